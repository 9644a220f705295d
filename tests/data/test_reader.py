import gzip
import os
import os.path as osp
import warnings

import pytest
import torch

from rmbrec_pyg.data import (DatasetFormatError, MultiBehaviorDataset,
                             load_folder)
from rmbrec_pyg.testing import write_folder


def _folder(tmp_path, **kw):
    args = dict(num_users=3, num_items=4,
                behaviors={'cart': [(1, 1), (2, 3)],
                           'buy': [(1, 2), (2, 3), (3, 4)]},
                validation=[(1, 3), (2, 1)], test=[(1, 4), (3, 1)])
    args.update(kw)
    return write_folder(str(tmp_path / 'ds'), **args)


def test_layout(tmp_path):
    root = _folder(tmp_path)
    ds = MultiBehaviorDataset(root)
    assert ds.behaviors == ['cart', 'buy'] and ds.target == 'buy'
    data = ds[0]
    assert data['user'].num_nodes == 3 and data['item'].num_nodes == 4
    assert data['user', 'buy', 'item'].edge_index.tolist() == [[0, 1, 2],
                                                               [1, 2, 3]]
    assert data['item', 'rev_cart', 'user'].edge_index.tolist() == [[0, 2],
                                                                    [0, 1]]
    store = data['user', 'buy', 'item']
    assert store.val_edge_label_index.tolist() == [[0, 1], [2, 0]]
    assert store.test_edge_label_index.tolist() == [[0, 2], [3, 0]]
    assert 'MultiBehaviorDataset' in repr(ds)


def test_explicit_behaviors_and_target(tmp_path):
    root = _folder(tmp_path)
    data = load_folder(root, behaviors=['buy', 'cart'], target='cart')
    assert data.behaviors == ['buy', 'cart'] and data.target == 'cart'


def test_gzip(tmp_path):
    root = _folder(tmp_path)
    with open(osp.join(root, 'cart.txt'), 'rb') as f:
        raw = f.read()
    import os
    os.remove(osp.join(root, 'cart.txt'))
    with gzip.open(osp.join(root, 'cart.txt.gz'), 'wb') as f:
        f.write(raw)
    data = load_folder(root)
    assert data['user', 'cart', 'item'].edge_index.size(1) == 2


@pytest.mark.parametrize('content,match', [
    ('not json', r'count\.txt, line 1: expected JSON'),
    ('{"user": 3}', r"count\.txt, line 1: expected a JSON object with keys"),
    ('{"user": -1, "item": 4}', r"'user' to be a positive integer"),
])
def test_bad_count(tmp_path, content, match):
    root = _folder(tmp_path)
    with open(osp.join(root, 'count.txt'), 'w') as f:
        f.write(content)
    with pytest.raises(DatasetFormatError, match=match):
        load_folder(root)


def test_missing_files(tmp_path):
    with pytest.raises(DatasetFormatError, match='does not exist'):
        load_folder(str(tmp_path / 'nope'))
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(DatasetFormatError, match=r'count\.txt: missing'):
        load_folder(str(empty))
    root = _folder(tmp_path, behaviors={'cart': [(1, 1)]})
    with pytest.raises(DatasetFormatError, match=r"buy\.txt: missing target"):
        load_folder(root)
    with pytest.raises(DatasetFormatError, match=r"view\.txt: missing file"):
        load_folder(root, behaviors=['view', 'buy'])


@pytest.mark.parametrize('line,match', [
    ('1 2 3', r'buy\.txt, line 2: expected two integer fields.*3 field'),
    ('1 x', r'buy\.txt, line 2: expected two integer fields'),
    ('0 1', r'buy\.txt, line 2: user id 0 out of range: expected 1\.\.3'),
    ('1 5', r'buy\.txt, line 2: item id 5 out of range: expected 1\.\.4'),
])
def test_bad_lines(tmp_path, line, match):
    root = _folder(tmp_path)
    with open(osp.join(root, 'buy.txt'), 'w') as f:
        f.write(f'1 1\n{line}\n2 2\n')
    with pytest.raises(DatasetFormatError, match=match) as e:
        load_folder(root)
    assert isinstance(e.value, ValueError) and e.value.line == 2


def test_bad_split_line(tmp_path):
    root = _folder(tmp_path, validation=[(4, 1)])
    with pytest.raises(DatasetFormatError,
                       match=r'validation\.txt, line 1: user id 4'):
        load_folder(root)


def test_empty_file(tmp_path):
    root = _folder(tmp_path, behaviors={'cart': [], 'buy': [(1, 1)]})
    with pytest.raises(DatasetFormatError, match=r'cart\.txt: file is empty'):
        load_folder(root)


def test_duplicates_and_overlap_warn(tmp_path):
    root = _folder(tmp_path, behaviors={'buy': [(1, 2), (1, 2), (2, 3)]},
                   validation=[(1, 2)], test=[(2, 1)])
    # A held-out pair in the training target file leaks the answer.
    with pytest.raises(DatasetFormatError), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the duplicate, checked below
        load_folder(root)
    with pytest.raises(DatasetFormatError,
                       match=r"validation\.txt, line 1: 1 held-out pair\(s\) "
                       r"also in the training file buy\.txt, e\.g\. '1 2'"), \
            warnings.catch_warnings():
        warnings.simplefilter('ignore')
        load_folder(root)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('always')
        data = load_folder(root, allow_leak=True)
    msgs = [str(w.message) for w in rec]
    assert any('dropped 1 duplicate' in m for m in msgs)
    assert any('1 val pair(s) also appear in the training target' in m
               for m in msgs)
    assert data['user', 'buy', 'item'].edge_index.size(1) == 2
    assert torch.equal(data['user', 'buy', 'item'].edge_index,
                       torch.tensor([[0, 1], [1, 2]]))


def test_reserved_names_are_never_behaviors(tmp_path):
    root = _folder(tmp_path)
    os.rename(osp.join(root, 'validation.txt'), osp.join(root, 'valid.txt'))
    with open(osp.join(root, 'train_dump.txt'), 'w') as f:
        f.write('1 1\n')
    with pytest.raises(DatasetFormatError,
                       match=r"validation\.txt: missing file.*found "
                       r"valid\.txt: rename"):
        load_folder(root)
    data = load_folder(root, require_splits=False)
    assert data.behaviors == ['cart', 'buy']
    with pytest.raises(DatasetFormatError, match=r"\['valid'\] cannot be "
                       'behaviors'):
        load_folder(root, behaviors=['valid', 'buy'], require_splits=False)
