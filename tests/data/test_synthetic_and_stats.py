import subprocess
import sys

import pytest
import torch

from rmbrec_pyg.data import (ConfigError, SyntheticMultiBehaviorDataset,
                             build_hetero_data, compute_stats,
                             generate_multi_behavior)


def _same(a, b):
    for et in a.edge_types:
        if not torch.equal(a[et].edge_index, b[et].edge_index):
            return False
    return True


def test_deterministic_by_seed():
    a = generate_multi_behavior(200, 100, seed=3)
    b = generate_multi_behavior(200, 100, seed=3)
    c = generate_multi_behavior(200, 100, seed=4)
    assert _same(a, b) and not _same(a, c)


def test_leave_one_out_layout():
    data = generate_multi_behavior(300, 150, seed=0)
    store = data['user', 'buy', 'item']
    assert store.val_edge_label_index.size(1) == 300
    assert store.test_edge_label_index[0].tolist() == list(range(300))
    keys = store.edge_index[0] * 150 + store.edge_index[1]
    held = store.test_edge_label_index
    assert not torch.isin(held[0] * 150 + held[1], keys).any()
    assert data.behaviors == ['view', 'cart', 'buy']


def test_bar_and_dt_knobs():
    aux = {'good': {'bar': 0.5, 'volume': 5, 'noise': 0.0},
           'noise': {'bar': 0.0, 'volume': 10, 'noise': 1.0}}
    data = generate_multi_behavior(2000, 500, aux=aux, direct_target=0.3,
                                   seed=1)
    st = compute_stats(data)
    assert abs(st.bar['good'] - 0.5) < 0.03
    assert st.bar['noise'] < 0.01
    assert abs(st.dt - 0.5) < 0.04  # 0.3 forced + 0.7 * (1 - 0.5/0.7)


def test_direct_purchase_shift():
    data = generate_multi_behavior(1000, 300, direct_target=0.1,
                                   heldout_direct=1.0, seed=2)
    store = data['user', 'buy', 'item']
    held = store.test_edge_label_index
    for b in ('view', 'cart'):
        index = data['user', b, 'item'].edge_index
        assert not torch.isin(held[0] * 300 + held[1],
                              index[0] * 300 + index[1]).any()


def test_bad_knobs():
    with pytest.raises(ConfigError, match="'direct_target' must lie in"):
        generate_multi_behavior(10, 20, direct_target=1.5)
    with pytest.raises(ConfigError, match="'aux.x.bar' must lie in"):
        generate_multi_behavior(10, 20, aux={'x': {'bar': -1}})


def test_dataset_wrapper():
    ds = SyntheticMultiBehaviorDataset(num_users=50, num_items=30)
    assert len(ds) == 1 and ds.num_users == 50 and ds.target == 'buy'


def test_stats_hand_example():
    # target pairs: (0,0) (0,1) (1,1) train, (1,2) val, (2,0) test
    data = build_hetero_data(
        3, 3, {'cart': [[0, 1, 2], [0, 2, 2]], 'view': [[0], [1]],
               'buy': [[0, 0, 1], [0, 1, 1]]}, 'buy',
        val=[[1], [2]], test=[[2], [0]])
    st = compute_stats(data)
    assert st.bar == {'cart': pytest.approx(2 / 5), 'view': pytest.approx(1 / 5)}
    assert st.dt == pytest.approx(2 / 5)
    assert st.edges == {'cart': 3, 'view': 1, 'buy': 3}
    assert 'BAR(cart) = 0.4000' in st.format()


@pytest.mark.dataset
def test_stats_cli_taobao(taobao_noview):
    out = subprocess.run(
        [sys.executable, '-m', 'rmbrec_pyg.cli.stats', taobao_noview],
        capture_output=True, text=True, check=True).stdout
    assert 'BAR(cart) = 0.1509' in out
    assert 'users 48,749' in out and 'items 39,493' in out
    assert '162,273' in out and '193,747' in out


def test_stats_cli_error(tmp_path):
    res = subprocess.run(
        [sys.executable, '-m', 'rmbrec_pyg.cli.stats', str(tmp_path)],
        capture_output=True, text=True)
    assert res.returncode == 2
    assert 'Traceback' not in res.stderr
    assert res.stderr.strip().count('\n') == 0
    assert 'count.txt: missing file' in res.stderr
