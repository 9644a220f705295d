r"""Every input or configuration mistake a user can make with their own data:
one line on stderr, exit code 2, naming the file, line or key, and no input
file ever modified (checksums before and after). Plus what must *not* fail:
a leak the user allows, ISO-8601 timestamps, cold users (counted), paths
relative to another folder, ``--help``."""
import gzip
import hashlib
import json
import os
import subprocess
import sys

import pytest

from rmbrec_pyg.testing import write_folder
from rmbrec_pyg.train.sharded import available as sharded_available

ENV = dict(os.environ, OMP_NUM_THREADS='1')
FAST = ['trainer.max_epochs=1', 'trainer.batch_size=64',
        'encoder.embedding_dim=8', 'trainer.progress=false']


def _folder(root, **kw):
    args = dict(num_users=6, num_items=8,
                behaviors={'cart': [(1, 1), (2, 3), (4, 5), (5, 2)],
                           'buy': [(1, 2), (2, 3), (3, 4), (4, 1), (5, 6),
                                   (6, 7)]},
                validation=[(1, 3), (2, 1), (3, 5)],
                test=[(1, 4), (3, 1), (4, 8)])
    args.update(kw)
    return write_folder(str(root), **args)


def _checksums(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, 'rb') as fh:
                out[path] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _run(module, args, cwd):
    return subprocess.run([sys.executable, '-m', module] + list(args),
                          cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=300)


def _fails(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stdout[-2000:],
                                 res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _corrupt_gz(path):
    with open(path, 'wb') as f:
        f.write(b'\x1f\x8b\x08\x00garbage that is not deflate data')


def _truncated_gz(path, text):
    blob = gzip.compress(text.encode())
    with open(path, 'wb') as f:
        f.write(blob[:len(blob) // 2])


def _mutate(case, root):
    r"""Breaks a valid folder as :obj:`case` says; returns what the one
    error line must name."""
    p = lambda name: os.path.join(root, name)  # noqa: E731
    if case == 'no validation':
        os.remove(p('validation.txt'))
        return ['validation.txt', 'missing file']
    if case == 'misnamed valid.txt':
        os.rename(p('validation.txt'), p('valid.txt'))
        return ['validation.txt', 'found valid.txt']
    if case == 'no test':
        os.remove(p('test.txt'))
        return ['test.txt', 'missing file']
    if case == 'leak':
        with open(p('validation.txt'), 'a') as f:
            f.write('5 6\n')
        return ['validation.txt, line 4', 'training file buy.txt', '5 6',
                'allow_leak']
    if case == 'corrupt gz':
        os.remove(p('cart.txt'))
        _corrupt_gz(p('cart.txt.gz'))
        return ['cart.txt.gz', 'corrupt or truncated gzip']
    if case == 'truncated gz':
        with open(p('buy.txt')) as f:
            text = f.read() * 50
        os.remove(p('buy.txt'))
        _truncated_gz(p('buy.txt.gz'), text)
        return ['buy.txt.gz', 'corrupt or truncated gzip']
    if case == 'malformed line':
        with open(p('cart.txt'), 'a') as f:
            f.write('3 x\n')
        return ['cart.txt, line 5', 'expected two integer fields']
    if case == 'id out of range':
        with open(p('test.txt'), 'a') as f:
            f.write('9 1\n')
        return ['test.txt, line 4', 'user id 9 out of range']
    if case == 'bad count.txt':
        with open(p('count.txt'), 'w') as f:
            f.write('{"user": 6}')
        return ['count.txt, line 1', "keys 'user' and 'item'"]
    if case == 'empty behavior':
        with open(p('cart.txt'), 'w'):
            pass
        return ['cart.txt', 'file is empty']
    if case == 'not utf-8':
        with open(p('cart.txt'), 'wb') as f:
            f.write(b'1 1\n\xff\xfe 2\n')
        return ['cart.txt', 'not readable UTF-8']
    if case == 'validation is test':
        with open(p('test.txt')) as f:
            text = f.read()
        with open(p('validation.txt'), 'w') as f:
            f.write(text)
        return ['test.txt, line 1', '3 test pair(s) also in validation.txt',
                'selected on the test set']
    if case == 'txt and txt.gz':
        with open(p('buy.txt')) as f:
            text = f.read()
        with gzip.open(p('buy.txt.gz'), 'wt') as f:
            f.write(text.replace('1 2', '1 5'))
        return ['buy.txt.gz', 'both buy.txt and buy.txt.gz', 'keep one']
    if case == 'another target':
        os.rename(p('buy.txt'), p('purchase.txt'))
        return ['buy.txt', 'missing target behavior file',
                'set data.target=NAME']
    if case == 'huge count.txt':
        with open(p('count.txt'), 'w') as f:
            f.write('{"user": 3000000000, "item": 8}')
        return ['count.txt, line 1', "'user' is 3,000,000,000",
                'more than the 2,147,483,647 users']
    if case == 'id beyond int64':
        with open(p('cart.txt'), 'a') as f:
            f.write(f'{10**23} 1\n')
        return ['cart.txt, line 5', f'user id {10**23} out of range']
    raise AssertionError(case)


FOLDER_CASES = ['no validation', 'misnamed valid.txt', 'no test', 'leak',
                'corrupt gz', 'truncated gz', 'malformed line',
                'id out of range', 'bad count.txt', 'empty behavior',
                'not utf-8', 'validation is test', 'txt and txt.gz',
                'another target', 'huge count.txt', 'id beyond int64']


@pytest.mark.parametrize('case', FOLDER_CASES)
def test_dataset_folder_mistakes(tmp_path, case):
    root = _folder(tmp_path / 'ds')
    needles = _mutate(case, root)
    before = _checksums(root)
    res = _run('rmbrec_pyg.cli.train', ['data=folder', f'data.root={root}',
                                        f'hydra.run.dir={tmp_path}/run']
               + FAST, tmp_path)
    _fails(res, 'rmbrec-train: error:', *needles)
    assert _checksums(root) == before  # nothing was modified


@pytest.mark.parametrize('args,needles', [
    (['data=folder'], ['data.root must be set']),
    (['data=folder', 'data.root=/no/such/dir'], ['/no/such/dir',
                                                 'does not exist']),
    (['eval.protocol=item'], ["'eval.protocol' must be one of"]),
    (['eval.negatives=uniform'], ["'eval.negatives' must be null"]),
    (['trainer.monitor=AUC@10'], ["'trainer.monitor' must be one of"]),
    (['regularizer.rrm.weight=-1'], ['regularizer.rrm', "'weight' must"]),
    (['behaviors=[view,click,buy]'], ["'behaviors' ['click'] not in"]),
    (['data=nosuchpreset'], ["Could not find 'data/nosuchpreset'"]),
    (['trainer.max_epochs=abc'], ["'trainer.max_epochs' expects an "
                                  "integer (got 'abc')"]),
    (['trainer.progress=maybe'], ["'trainer.progress' expects true or "
                                  'false']),
    (['trainer.max_epoch=3'], ["unknown key 'trainer.max_epoch' (did you "
                               "mean 'trainer.max_epochs'?)"]),
    (['+trainer.max_epoch=3'], ["unknown key 'trainer.max_epoch' (did you "
                                "mean 'trainer.max_epochs'?)"]),
    (['traner.seed=3'], ["unknown key 'traner.seed' (did you mean "
                         "'trainer.seed'?)"]),
    (['+data.root=/tmp'], ["'data.root' is not a setting of the dataset",
                           'data=folder data.root=PATH']),
    (['model=crgcn', 'fusion=adaptive'], ["fusion=adaptive and floor=none "
                                          "are RMBRec's", 'CRGCN']),
    (['floor=tower', 'floor.threshold=1.5'],
     ["'floor.threshold' must lie in [0, 1] (got 1.5)"]),
    (['model=simgcl', 'encoder.temperature=0'],
     ['encoder:', "'temperature' must be positive in 'SimGCL'"]),
    (['model=nosuchmodel'], ["Could not find 'model/nosuchmodel'"]),
    (['trainer.device=gpu0'], ["'trainer.device' must be auto, cpu, cuda",
                               "'gpu0'"]),
    (['trainer.device=cuda'], ["'trainer.device=cuda' but this machine has "
                               'no CUDA device']),
    (['trainer.max_epochs=0'], ["'trainer.max_epochs' must be >= 1"]),
    (['model=mbcgcn', 'encoder.pretrain_epochs=-5'],
     ['encoder:', "'pretrain_epochs' must be an integer >= 0 in 'MBCGCN'"]),
    (['model=mbcgcn', 'trainer.pretrain_eval_every=0'],
     ["'trainer.pretrain_eval_every' positive"]),
    (['trainer.propagation=partial'], ["'trainer.propagation' must be "
                                       "'full' or 'sampled'"]),
    (['trainer.neighbor_sampler=dgl'], ["'trainer.neighbor_sampler' must be "
                                        "one of ('auto', 'torch', 'pyg')"]),
    (['trainer.fanouts={view:3}'], ["'trainer.fanouts' takes new keys with "
                                    "'+'", '+trainer.fanouts.NAME=VALUE']),
    (['model=crgcn', 'trainer.propagation=sampled'],
     ["'trainer.propagation=sampled' needs RMBRec's encoder"]),
    (['trainer.tables=sharded'], ["'trainer.tables=sharded' needs "
                                  "'trainer.propagation=sampled'"]),
    (['trainer.propagation=sampled', 'trainer.tables=sharded'],
     ["'trainer.tables=sharded' runs under torchrun" if sharded_available()
      else "'trainer.tables=sharded' needs torchrec"]),
    (['trainer.table_optimizer=lamb'], ["'trainer.table_optimizer' must be "
                                        'one of']),
    (['trainer.table_optimizer=adam'],
     ["'trainer.table_optimizer=adam' with replicated tables needs "
      "'trainer.propagation=sampled'"]),
    (['trainer.propagation=sampled', 'trainer.table_optimizer=rowwise_adagrad'],
     ["'trainer.table_optimizer=rowwise_adagrad' needs "
      "'trainer.tables=sharded'"]),
])
def test_config_mistakes(tmp_path, args, needles):
    # FAST first: a case's own value of a FAST key must win
    res = _run('rmbrec_pyg.cli.train', FAST + args + [
        'data.num_users=60', 'data.num_items=40',
        f'hydra.run.dir={tmp_path}/run'] if args[0] != 'data=folder' and
        not args[0].startswith('data=nosuch') else FAST + args +
        [f'hydra.run.dir={tmp_path}/run'], tmp_path)
    _fails(res, 'rmbrec-train: error:', *needles)


def test_data_root_that_is_a_file_points_to_prepare(tmp_path):
    events = tmp_path / 'events.csv'
    events.write_text('user,item,behavior,timestamp\n')
    res = _run('rmbrec_pyg.cli.train', FAST + [
        'data=folder', f'data.root={events}',
        f'hydra.run.dir={tmp_path}/run'], tmp_path)
    _fails(res, 'events.csv', 'a file, not a dataset folder',
           'rmbrec-prepare')


def test_stats_on_ids_beyond_int64(tmp_path):
    root = _folder(tmp_path / 'ds')
    needles = _mutate('id beyond int64', root)
    _fails(_run('rmbrec_pyg.cli.stats', [root], tmp_path),
           'rmbrec-stats: error:', *needles)


def test_allowed_leak_trains(tmp_path):
    root = _folder(tmp_path / 'ds')
    _mutate('leak', root)
    res = _run('rmbrec_pyg.cli.train', ['data=folder', f'data.root={root}',
                                        'data.allow_leak=true',
                                        f'hydra.run.dir={tmp_path}/run']
               + FAST, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]


def test_cold_users_are_counted_and_reported(tmp_path):
    # User 6 has no edge but a held-out purchase in each split.
    root = _folder(tmp_path / 'ds', behaviors={
        'cart': [(1, 1), (2, 3)], 'buy': [(1, 2), (2, 3), (3, 4), (4, 1)]},
        validation=[(1, 3), (6, 1)], test=[(2, 4), (6, 2)])
    run = tmp_path / 'run'
    res = _run('rmbrec_pyg.cli.train', ['data=folder', f'data.root={root}',
                                        f'hydra.run.dir={run}'] + FAST,
               tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert '1 validation user(s) have no training edge' in res.stderr
    assert '1 cold users' in (run / 'train.log').read_text()
    metrics = json.loads((run / 'metrics.json').read_text())
    assert metrics['test_groups']['n_cold'] == 1
    assert 'HR@10' in metrics['test_groups']['cold']


def _events(tmp_path, lines, name='ev.csv', gz=False):
    text = '\n'.join(['user,item,behavior,timestamp'] + lines) + '\n'
    path = tmp_path / name
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_prepare_mistakes(tmp_path):
    ev = _events(tmp_path, ['a,x,buy,1', 'a,y,buy,2', 'a,z,buy,3'])
    before = _checksums(tmp_path)
    res = _run('rmbrec_pyg.cli.prepare', [str(ev), str(tmp_path / 'o1'),
                                          '--behavior-map', 'buy:buy'],
               tmp_path)
    _fails(res, 'rmbrec-prepare: error:', '--behavior-map',
           "'buy:buy'")
    bad = tmp_path / 'bad.csv.gz'
    _corrupt_gz(bad)
    res = _run('rmbrec_pyg.cli.prepare', [str(bad), str(tmp_path / 'o2')],
               tmp_path)
    _fails(res, 'bad.csv.gz', 'corrupt or truncated gzip')
    assert not (tmp_path / 'o2').exists()
    garbage = _events(tmp_path, ['a,x,buy,yesterday', 'b,x,buy,soon'],
                      'garbage.csv')
    res = _run('rmbrec_pyg.cli.prepare', [str(garbage),
                                          str(tmp_path / 'o3')], tmp_path)
    _fails(res, 'garbage.csv', 'every one of the 3 lines was malformed',
           "'yesterday' is neither a number nor ISO-8601")
    res = _run('rmbrec_pyg.cli.prepare', [str(tmp_path / 'nope.csv'),
                                          str(tmp_path / 'o4')], tmp_path)
    _fails(res, 'nope.csv', 'no such file')
    after = _checksums(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before


def test_prepare_reads_iso_timestamps(tmp_path):
    ev = _events(tmp_path, [
        'a,x,buy,2017-11-24T17:40:49', 'a,y,buy,2017-11-25T08:00:00',
        'a,z,buy,2017-11-26T09:30:00+02:00', 'a,w,cart,2017-11-24T10:00:00Z'])
    res = _run('rmbrec_pyg.cli.prepare', [str(ev), str(tmp_path / 'out')],
               tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / 'out' / 'test.txt').read_text().split() == ['1', '3']
    assert (tmp_path / 'out' / 'validation.txt').read_text().split() == [
        '1', '2']


def test_help(tmp_path):
    res = _run('rmbrec_pyg.cli.recommend', ['--help'], tmp_path)
    assert res.returncode == 0 and res.stderr == ''
    assert 'checkpoint=PATH' in res.stdout
    res = _run('rmbrec_pyg.cli.prepare', ['--help'], tmp_path)
    assert res.returncode == 0
    for flag in ('--preset', '--user-col', '--item-col', '--behavior-col',
                 '--time-col', '--behavior-map', '--target', '--min-target',
                 '--delimiter', '--no-header', '--columns'):
        lines = res.stdout.splitlines()
        i = next(j for j, ln in enumerate(lines)
                 if ln.startswith(f'  {flag} ') or ln == f'  {flag}')
        block = [lines[i]] + [ln for ln in lines[i + 1:i + 6]]
        end = next((j for j, ln in enumerate(block[1:], 1)
                    if ln.startswith('  -') or not ln.strip()), len(block))
        assert len(' '.join(block[:end]).split()) >= 5, block  # described
    res = _run('rmbrec_pyg.cli.evaluate', ['--help'], tmp_path)
    assert res.returncode == 0 and 'eval.protocol=pair' in res.stdout
    res = _run('rmbrec_pyg.cli.recommend', ['checkpoint'], tmp_path)
    line = _fails(res, 'expected key=value')
    assert line.count('rmbrec-recommend') == 1


@pytest.mark.parametrize('command', ['train', 'evaluate', 'recommend',
                                     'prepare', 'stats', 'report'])
def test_help_does_not_load_torch(command):
    # --help answers at once: torch (seconds to import on a slow machine)
    # and torch_geometric load only when a command runs.
    code = ('import sys, runpy\n'
            f"sys.argv = ['rmbrec-{command}', '--help']\n"
            'try:\n'
            f"    runpy.run_module('rmbrec_pyg.cli.{command}', "
            "run_name='__main__')\n"
            'except SystemExit as e:\n'
            '    assert e.code in (0, None), e.code\n'
            "print('LOADED', 'torch' in sys.modules, "
            "'torch_geometric' in sys.modules)\n")
    res = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, env=ENV)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == 'LOADED False False', res.stdout
    assert 'usage' in res.stdout.lower()


class _Boom:
    r"""Unpickling this runs code: it must never happen."""
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f'touch {self.sentinel}', ))


def test_crafted_checkpoints_are_refused_and_nothing_runs(tmp_path):
    import torch
    run = tmp_path / 'run'
    res = _run('rmbrec_pyg.cli.train', FAST + [
        'data.num_users=60', 'data.num_items=40', f'hydra.run.dir={run}'],
        tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    sentinel = tmp_path / 'code_ran'
    for name in ('best.pt', 'last.pt'):
        state = torch.load(run / name, weights_only=True)
        state['evil'] = _Boom(sentinel)
        torch.save(state, run / name)
    res = _run('rmbrec_pyg.cli.recommend', [f'checkpoint={run}/best.pt',
                                            f'output={tmp_path}/r.csv'],
               tmp_path)
    _fails(res, 'rmbrec-recommend: error:', 'best.pt', 'refused to load')
    res = _run('rmbrec_pyg.cli.evaluate', [str(run)], tmp_path)
    _fails(res, 'rmbrec-evaluate: error:', 'best.pt', 'refused to load')
    res = _run('rmbrec_pyg.cli.train', FAST + [
        'data.num_users=60', 'data.num_items=40', 'trainer.max_epochs=2',
        'trainer.resume=true', f'hydra.run.dir={run}'], tmp_path)
    _fails(res, 'rmbrec-train: error:', 'last.pt', 'refused to load')
    assert not sentinel.exists()  # nothing ran
    with pytest.raises(Exception):  # the files really are executable
        torch.load(run / 'best.pt', weights_only=True)


def test_relative_paths_and_raw_ids_round_trip(tmp_path):
    # raw log -> prepare -> train (relative data.root) -> recommend from
    # another folder, in raw ids.
    lines = []
    for u in range(12):
        for k in range(5):
            lines.append(f'u{u},sku-{(u + k) % 9},buy,{100 * u + k}')
        lines.append(f'u{u},sku-{(u + 7) % 9},cart,{100 * u}')
    ev = _events(tmp_path, lines)
    res = _run('rmbrec_pyg.cli.prepare', [str(ev), 'data/shop'], tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / 'data' / 'shop' / 'user_ids.csv').read_text() \
        .startswith('raw_id,id\nu0,1\n')
    run = tmp_path / 'run'
    res = _run('rmbrec_pyg.cli.train', ['data=folder', 'data.root=data/shop',
                                        f'hydra.run.dir={run}'] + FAST,
               tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    saved = (run / 'config_resolved.yaml').read_text()
    assert f"root: {tmp_path / 'data' / 'shop'}" in saved  # absolute
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (elsewhere / 'users.txt').write_text('u3\nu10\n')
    res = _run('rmbrec_pyg.cli.recommend', [
        f'checkpoint={run}/best.pt', 'k=3', 'output=recs.csv',
        'users=users.txt'], elsewhere)
    assert res.returncode == 0, res.stderr
    rows = [r.split(',') for r in
            (elsewhere / 'recs.csv').read_text().splitlines()[1:]]
    assert {r[0] for r in rows} == {'u3', 'u10'}
    assert all(r[2].startswith('sku-') for r in rows)
    bought = {(ln.split(',')[0], ln.split(',')[1]) for ln in lines
              if ',buy,' in ln}
    # held-out purchases may be recommended, training ones never: the last
    # two purchases of a user are held out
    train = {(u, i) for u, i in bought if (u, i) not in {
        (f'u{u}', f'sku-{(u + k) % 9}') for u in range(12) for k in (3, 4)}}
    assert not any((r[0], r[2]) in train for r in rows)
    (elsewhere / 'bad_users.txt').write_text('u3\nnobody\n')
    res = _run('rmbrec_pyg.cli.recommend', [
        f'checkpoint={run}/best.pt', 'users=bad_users.txt'], elsewhere)
    _fails(res, 'bad_users.txt, line 2', "unknown raw user id 'nobody'")


def test_report_right_after_a_run(tmp_path):
    run = tmp_path / 'sweep' / 'a'
    res = _run('rmbrec_pyg.cli.train', FAST + [
        'data.num_users=60', 'data.num_items=40', f'hydra.run.dir={run}'],
        tmp_path)
    assert res.returncode == 0
    res = _run('rmbrec_pyg.cli.report', [str(tmp_path / 'sweep')], tmp_path)
    assert res.returncode == 0, res.stderr
    assert 'user/full' in (tmp_path / 'sweep' / 'report.md').read_text()


def test_recommend_ranks_as_the_run_was_evaluated(tmp_path):
    # A model whose validation-chosen ranking demotes a user's auxiliary
    # items: rmbrec-recommend must demote them too.
    import torch

    from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
    run = tmp_path / 'run'
    res = _run('rmbrec_pyg.cli.train', FAST + [
        'data.num_users=60', 'data.num_items=40', 'fusion=adaptive',
        f'hydra.run.dir={run}'], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    state = torch.load(run / 'best.pt', weights_only=True)
    state['ranking'] = {'demote_aux': True}
    torch.save(state, run / 'best.pt')
    res = _run('rmbrec_pyg.cli.recommend', [f'checkpoint={run}/best.pt',
                                            'k=5', 'output=recs.csv'],
               tmp_path)
    assert res.returncode == 0, res.stderr
    data = SyntheticMultiBehaviorDataset(num_users=60, num_items=40)[0]
    aux, bought = {}, {}
    for b in data.behaviors:
        for u, i in data['user', b, 'item'].edge_index.t().tolist():
            (bought if b == 'buy' else aux).setdefault(u + 1, set()).add(
                i + 1)
    rows = [r.split(',') for r in
            (tmp_path / 'recs.csv').read_text().splitlines()[1:]]
    checked = 0
    for u in range(1, 61):
        mine = [int(r[2]) for r in rows if int(r[0]) == u]
        others = 40 - len(bought.get(u, ())) - len(aux.get(u, set()) -
                                                  bought.get(u, set()))
        if others >= 5:  # enough items without auxiliary evidence
            assert not set(mine) & aux.get(u, set()), u
            checked += 1
    assert checked > 30


def test_resume_refuses_settings_it_cannot_honour(tmp_path):
    run = tmp_path / 'run'
    base = ['data.num_users=80', 'data.num_items=60', 'trainer.batch_size=64',
            'encoder.embedding_dim=8', 'trainer.progress=false',
            f'hydra.run.dir={run}']
    res = _run('rmbrec_pyg.cli.train', base + ['trainer.max_epochs=1'],
               tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    saved = (run / 'config_resolved.yaml').read_text()
    for change, key in ((['optim.lr=0.5'], 'optim.lr=0.5'),
                        (['trainer.seed=7'], 'trainer.seed=7'),
                        (['encoder.embedding_dim=16'],
                         'encoder.embedding_dim=16')):
        res = _run('rmbrec_pyg.cli.train', base + change + [
            'trainer.max_epochs=2', 'trainer.resume=true'], tmp_path)
        _fails(res, 'last.pt', 'cannot honour changed settings', key)
        # nothing was overwritten
        assert (run / 'config_resolved.yaml').read_text() == saved
    # a longer run and another device are what resuming is for
    res = _run('rmbrec_pyg.cli.train', base + [
        'trainer.max_epochs=2', 'trainer.resume=true'], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]


def test_report_on_a_truncated_metrics_json(tmp_path):
    run = tmp_path / 'sweep' / 'cell'
    run.mkdir(parents=True)
    (run / 'metrics.json').write_text('{"best_epoch": 3, "valid": {"HR@1')
    res = _run('rmbrec_pyg.cli.report', [str(tmp_path / 'sweep')], tmp_path)
    _fails(res, 'metrics.json', 'not readable JSON')


def test_prepare_reads_a_header_with_a_utf8_bom(tmp_path):
    ev = _events(tmp_path, [
        'a,x,buy,1511540000', 'a,y,buy,1511550000', 'a,z,buy,1511560000'])
    ev.write_bytes(b'\xef\xbb\xbf' + ev.read_bytes())
    res = _run('rmbrec_pyg.cli.prepare', [str(ev), str(tmp_path / 'out')],
               tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / 'out' / 'test.txt').read_text().split() == ['1', '3']


def test_a_random_bytes_checkpoint_is_not_called_code(tmp_path):
    from rmbrec_pyg.data.errors import CheckpointError
    from rmbrec_pyg.train.checkpoint import load_checkpoint
    path = tmp_path / 'best.pt'
    path.write_bytes(os.urandom(4096).replace(b'PK', b'pk'))
    if path.read_bytes()[:1] == b'\x80':
        path.write_bytes(b'\x00' + path.read_bytes()[1:])
    with pytest.raises(CheckpointError, match='not a checkpoint') as e:
        load_checkpoint(str(path))
    assert 'could run code' not in str(e.value)


def test_outputs_have_the_usual_mode_and_lf_endings(tmp_path):
    import stat
    ev = _events(tmp_path, [
        'a,x,buy,1511540000', 'a,y,buy,1511550000', 'a,z,buy,1511560000'])
    out = tmp_path / 'out'
    res = _run('rmbrec_pyg.cli.prepare', [str(ev), str(out)], tmp_path)
    assert res.returncode == 0, res.stderr
    umask = os.umask(0)
    os.umask(umask)
    for name in ('user_ids.csv', 'item_ids.csv', 'buy.txt', 'count.txt'):
        path = out / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, name
        assert b'\r\n' not in path.read_bytes(), name


def test_optuna_without_the_extra_names_it(tmp_path):
    try:
        import hydra_plugins.hydra_optuna_sweeper  # noqa: F401
        pytest.skip('the optuna extra is installed')
    except ImportError:
        pass
    for args in (['hparams_search=optuna'],
                 ['-m', 'hparams_search=optuna',
                  f'hydra.sweep.dir={tmp_path}/sweep']):
        res = _run('rmbrec_pyg.cli.train', args, tmp_path)
        _fails(res, 'hparams_search=optuna', "pip install 'rmbrec_pyg[optuna]'")
