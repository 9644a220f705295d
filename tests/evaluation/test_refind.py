r"""The re-finding boost (rerank=refind), the aux_first rule and how every
tool ranks them as evaluated."""
import json
import os

import pytest
import torch

from rmbrec_pyg.evaluation import ExclusionIndex, topk_items
from rmbrec_pyg.evaluation.bonus import ScoreBonus
from rmbrec_pyg.evaluation.refind import Refind

SMALL = ['data.num_users=200', 'data.num_items=120',
         'trainer.batch_size=64', 'encoder.embedding_dim=8',
         'trainer.progress=false']


def test_score_bonus_merges_and_adds():
    edges = torch.tensor([[0, 0, 0, 1], [2, 2, 3, 0]])
    vals = torch.tensor([1.0, 2.0, 0.5, 0.0])
    summed = ScoreBonus(edges, vals, 2, 4, 'sum')
    assert summed.num_pairs == 2  # (1, 0) has 0 and drops out
    row, col, val = summed.gather_values(torch.tensor([0, 1]))
    assert dict(zip(col.tolist(), val.tolist())) == {2: 3.0, 3: 0.5}
    top = ScoreBonus(edges, vals, 2, 4, 'max')
    assert dict(zip(top.gather_values(torch.tensor([0]))[1].tolist(),
                    top.gather_values(torch.tensor([0]))[2].tolist())) == \
        {2: 2.0, 3: 0.5}
    with pytest.raises(ValueError, match="'reduce'"):
        ScoreBonus(edges, vals, 2, 4, 'mean')


def test_topk_with_bonus_equals_dense_scores():
    torch.manual_seed(0)
    zu, zi = torch.randn(5, 4), torch.randn(30, 4)
    edges = torch.stack([torch.randint(0, 5, (40, )),
                         torch.randint(0, 30, (40, ))])
    vals = torch.rand(40) * 3
    bonus = ScoreBonus(edges, vals, 5, 30, 'sum')
    bought = torch.tensor([[0, 1, 2], [5, 6, 7]])
    items, scores = topk_items(zu, zi, torch.arange(5), 6,
                               ExclusionIndex(bought, 5), demote=bonus)
    dense = zu @ zi.t()
    dense.index_put_((edges[0], edges[1]), vals, accumulate=True)
    dense[bought[0], bought[1]] = -float('inf')
    want = dense.topk(6, dim=1)
    assert torch.equal(items, want.indices)
    assert torch.allclose(scores, want.values)


def test_refind_index_per_group(tiny):
    target = str(tiny.target)
    aux = [b for b in tiny.behaviors if b != target]
    n = int(tiny['user'].num_nodes)
    groups = torch.arange(n) % 2
    r = Refind(aux, [[1.0] * len(aux), [0.0] * len(aux)], 0.01, 'max')
    bonus = r.index(tiny, groups=groups)
    users = torch.arange(n)
    row, _, val = bonus.gather_values(users)
    assert (groups[row] == 0).all() and (val == 1.0).all()
    assert Refind.from_dict(r.to_dict()) == r
    with pytest.raises(Exception, match='behaviors'):
        Refind(['nope'], [[1.0], [1.0]]).index(tiny)


def _run(overrides, out):
    from rmbrec_pyg.cli.compose import run
    torch.set_num_threads(1)
    return run(SMALL + overrides, out_dir=str(out))


def _assert_rescored(run_dir, metrics):
    from rmbrec_pyg.cli.evaluate import rescore
    again = rescore(str(run_dir))
    assert again['valid'] == pytest.approx(metrics['valid'])
    assert again['test'] == pytest.approx(metrics['test'])


def test_aux_first_rule_chooses_on_validation_and_rescores(tmp_path):
    metrics = _run(['model=aux_first'], tmp_path)
    rule = metrics['rule']
    assert rule['chosen'] in rule['validation']
    assert rule['validation'][rule['chosen']] == max(
        rule['validation'].values())
    assert metrics['valid']['HR@10'] == pytest.approx(
        rule['validation'][rule['chosen']])
    # the plain most-popular ranking is one candidate, and the rule beats
    # it on this data, where purchases follow carts and views
    assert rule['validation']['popular'] < metrics['valid']['HR@10']
    assert metrics['test_groups']['aux']['HR@10'] > \
        metrics['test_groups']['direct']['HR@10']
    _assert_rescored(tmp_path, metrics)


def test_recommend_puts_unbought_aux_items_first(tmp_path):
    from rmbrec_pyg.cli.builders import compose_config, load_data
    from rmbrec_pyg.cli.recommend import recommend
    from rmbrec_pyg.data.hetero import edge_type
    from rmbrec_pyg.train.checkpoint import load_checkpoint
    _run(['model=aux_first'], tmp_path)
    out = tmp_path / 'recs.csv'
    recommend(str(tmp_path / 'best.pt'), 5, str(out))
    data = load_data(compose_config(SMALL))[1]
    chosen = Refind.from_dict(load_checkpoint(
        str(tmp_path / 'best.pt'))['ranking']['refind'])
    held = {}
    for b in chosen.behaviors:
        e = data[edge_type(b)].edge_index
        for u, i in zip(e[0].tolist(), e[1].tolist()):
            held.setdefault(u + 1, set()).add(i + 1)
    bought = data[edge_type(str(data.target))].edge_index
    bought = set(zip((bought[0] + 1).tolist(), (bought[1] + 1).tolist()))
    # exclude='known' (the default) also leaves out validation and test
    # purchases
    store = data[edge_type(str(data.target))]
    for split in ('val', 'test'):
        pairs = store[f'{split}_edge_label_index']
        bought |= set(zip((pairs[0] + 1).tolist(), (pairs[1] + 1).tolist()))
    rows = [line.split(',') for line in out.read_text().splitlines()[1:]]
    by_user = {}
    for u, _, i, _ in rows:
        by_user.setdefault(int(u), []).append(int(i))
    for u, items in by_user.items():
        assert not any((u, i) in bought for i in items)
        mine = [i for i in held.get(u, ()) if (u, i) not in bought]
        # the unbought aux items fill the first slots
        first = items[:min(len(mine), 5)]
        assert set(first) <= set(mine)


def test_refind_search_on_a_trained_model(tmp_path):
    metrics = _run(['rerank=refind', 'trainer.max_epochs=3'], tmp_path)
    refind = metrics['refind']
    assert refind['behaviors'] and len(refind['values']) == 2
    chosen = refind['chosen']['multipliers']
    assert set(chosen) == {'research', 'direct'}
    assert metrics['demote_aux'] is False
    # the boost was chosen on validation: no worse there than the model
    # alone, which is a candidate (every value 0)
    from rmbrec_pyg.cli.compose import evaluate
    from rmbrec_pyg.train.checkpoint import load_checkpoint, save_checkpoint
    state = load_checkpoint(str(tmp_path / 'best.pt'))
    plain_state = dict(state, ranking={'demote_aux': False, 'refind': None})
    save_checkpoint(plain_state, str(tmp_path / 'plain.pt'))
    alone = evaluate(SMALL + ['rerank=refind', 'trainer.max_epochs=3'],
                     str(tmp_path / 'plain.pt'))
    assert metrics['valid']['HR@10'] >= alone['valid']['HR@10']
    # rmbrec-evaluate ranks as evaluated
    _assert_rescored(tmp_path, metrics)
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['refind'] == refind


def test_refind_on_a_baseline_and_with_the_floor(tmp_path):
    crgcn = _run(['model=crgcn', 'rerank=refind', 'trainer.max_epochs=2'],
                 tmp_path / 'crgcn')
    assert 'refind' in crgcn
    _assert_rescored(tmp_path / 'crgcn', crgcn)
    rec = _run(['preset=recommended', 'trainer.max_epochs=2'],
               tmp_path / 'rec')
    assert {'refind', 'blend', 'fusion_alpha'} <= set(rec)
    assert rec['blend'].get('under_refind') is True
    assert 'tower_epoch' in rec['blend']  # the floor's own entry is kept
    _assert_rescored(tmp_path / 'rec', rec)


def test_bad_rerank_settings_exit_2(tmp_path):
    import subprocess
    import sys
    env = dict(os.environ, OMP_NUM_THREADS='1')
    res = subprocess.run(
        [sys.executable, '-m', 'rmbrec_pyg.cli.train', 'rerank=refind',
         'rerank.multipliers=[0,1]', f'hydra.run.dir={tmp_path}'] + SMALL,
        capture_output=True, text=True, env=env)
    assert res.returncode == 2
    assert 'rerank.multipliers' in res.stderr
