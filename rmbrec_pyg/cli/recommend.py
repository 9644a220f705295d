r"""``rmbrec-recommend checkpoint=PATH k=10 output=recs.csv [users=FILE]``:
top-k recommendations per user from a trained run.

The checkpoint's run dir must hold ``config_resolved.yaml`` (every run dir
does): the dataset is rebuilt from it so that the graph and the ids are the
ones the model was trained on. Items the user already has in the target
behavior are excluded. Ids in the output are the input data's (1-based).
``users=FILE`` lists 1-based user ids, one per line (default: all users).
"""
import os
import sys
import time
from typing import List, Optional

import torch

from rmbrec_pyg.cli.errors import report_user_errors
from rmbrec_pyg.cli.kv import parse_kv
from rmbrec_pyg.data.errors import ConfigError, DatasetFormatError
from rmbrec_pyg.data.hetero import edge_index_dict_of
from rmbrec_pyg.evaluation import Evaluator, topk_items
from rmbrec_pyg.nn.encoder import MultiBehaviorEncoder
from rmbrec_pyg.train.checkpoint import load_checkpoint


def read_users(path: str, num_users: int) -> torch.Tensor:
    ids = []
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                u = int(line.split()[0])
            except ValueError:
                raise DatasetFormatError(path, f"expected a user id, got "
                                         f'{line[:40]!r}', lineno)
            if not 1 <= u <= num_users:
                raise DatasetFormatError(path, f'user id {u} out of range: '
                                         f'expected 1..{num_users}', lineno)
            ids.append(u - 1)
    return torch.tensor(ids, dtype=torch.long)


def recommend(checkpoint: str, k: int, output: str,
              users_file: Optional[str] = None, batch_size: int = 4096,
              device: str = 'cpu') -> int:
    r"""Writes ``user,rank,item,score`` rows and returns their number."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    if k <= 0:
        raise ConfigError(f"'k' needs to be a positive integer (got {k})")
    state = load_checkpoint(checkpoint)
    cfg_path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)),
                            'config_resolved.yaml')
    if state.get('run_config') is not None:
        cfg = OmegaConf.create(state['run_config'])
    elif os.path.isfile(cfg_path):
        cfg = OmegaConf.load(cfg_path)
    else:
        raise ConfigError(f"no config_resolved.yaml next to '{checkpoint}': "
                          f'pass a checkpoint from an rmbrec-train run dir')
    data = instantiate(cfg.data)[0]
    enc = MultiBehaviorEncoder.from_config(state['config'])
    enc.load_state_dict(state['encoder'])
    enc.eval()
    dev = torch.device(device)
    edges = edge_index_dict_of(data)
    adj = enc.build_adjacency({b: edges[b] for b in enc.behaviors},
                              enc.num_users, enc.num_items,
                              backend=enc.sparse_backend, device=dev)
    enc.to(dev)
    with torch.no_grad():
        zu, zi = enc.get_embedding(adj)
    # The same masking and ranking options as the evaluation of the run.
    evaluator = Evaluator(data, device=dev)
    demote = (evaluator.demote_index() if state.get('ranking', {}).get(
        'demote_aux') else None)
    users = (read_users(users_file, enc.num_users) if users_file else
             torch.arange(enc.num_users))
    items, scores = topk_items(zu, zi, users.to(dev), k, evaluator.exclude,
                               batch_size, demote=demote)
    items, scores = items.cpu(), scores.cpu()
    kk = items.size(1)
    user_col = (users + 1).repeat_interleave(kk)
    rank_col = torch.arange(1, kk + 1).repeat(users.numel())
    item_col = items.reshape(-1) + 1
    score_col = scores.reshape(-1)
    valid = torch.isfinite(score_col)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, 'w') as f:
        f.write('user,rank,item,score\n')
        lines = [f'{u},{r},{i},{s:.6f}' for u, r, i, s in zip(
            user_col[valid].tolist(), rank_col[valid].tolist(),
            item_col[valid].tolist(), score_col[valid].tolist())]
        f.write('\n'.join(lines))
        f.write('\n')
    return len(lines)


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv

    def run() -> None:
        args = parse_kv(argv, ['checkpoint'], {
            'k': '10', 'output': 'recs.csv', 'users': '',
            'batch_size': '4096', 'device': 'cpu'}, 'rmbrec-recommend')
        try:
            k, bs = int(args['k']), int(args['batch_size'])
        except ValueError:
            raise ConfigError(f"'k' and 'batch_size' must be integers (got "
                              f"{args['k']!r}, {args['batch_size']!r})")
        t0 = time.perf_counter()
        n = recommend(args['checkpoint'], k, args['output'],
                      args['users'] or None, bs, args['device'])
        print(f"wrote {n} recommendations to {args['output']} in "
              f'{time.perf_counter() - t0:.1f}s')

    report_user_errors('rmbrec-recommend', run)


if __name__ == '__main__':
    main()
