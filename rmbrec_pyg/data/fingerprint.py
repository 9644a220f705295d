r"""The fingerprint of a dataset: what a model was trained on, saved in its
checkpoints and compared by ``rmbrec-evaluate``, ``rmbrec-recommend`` and a
resumed run, so that a model is never scored or served against data that
changed under it (a new ``buy.txt``, another split, more users)."""
from typing import Any, Dict

from rmbrec_pyg.data.hetero import edge_type
from rmbrec_pyg.utils.digest import tensor_digest

#: The splits whose held-out pairs are part of the fingerprint.
SPLITS = ('val', 'test')


def data_fingerprint(data: Any) -> Dict[str, str]:
    r"""``{part: checksum}`` of a :class:`~torch_geometric.data.HeteroData`
    of this package: the node counts, the target, every behavior's training
    edges and the validation and test pairs."""
    target = str(data.target)
    out = {'nodes': f"{int(data['user'].num_nodes)} users x "
                    f"{int(data['item'].num_nodes)} items",
           'target': target}
    for b in data.behaviors:
        out[f'behavior {b}'] = tensor_digest(data[edge_type(b)].edge_index)
    store = data[edge_type(target)]
    for s in SPLITS:
        key = f'{s}_edge_label_index'
        if key in store:
            out[f'{s} pairs'] = tensor_digest(store[key])
    return out

