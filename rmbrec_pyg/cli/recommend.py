r"""rmbrec-recommend checkpoint=PATH [k=10] [output=recs.csv] [users=FILE]
[exclude=known] [batch_size=4096] [device=cpu]

Top-k recommendations per user from a trained run, as the run's evaluation
ranks them. Nothing the user bought is recommended: by default every known
purchase (training, validation and test, `exclude=known`, what a production
export needs); `exclude=train` leaves out only the training purchases, as
the evaluation does. A model that demotes the items a user already has
under an auxiliary behavior (a validation-chosen `demote_aux` of adaptive
fusion or of the target floor) does so here, and so does the re-finding
boost a run chose on validation.

The data are rebuilt from the checkpoint's own run configuration (paths
saved absolute), so it works from any folder. Output rows are
`user,rank,item,score`. Ids are the dataset's 1-based ids, or, when the
dataset folder holds rmbrec-prepare's `user_ids.csv`/`item_ids.csv`, the raw
ids of the original log. `users=FILE` lists one user a line, in the same ids
(default: every user).
"""
from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Dict, List, Optional

from rmbrec_pyg.cli import quiet_pipe
from rmbrec_pyg.cli.errors import report_user_errors
from rmbrec_pyg.cli.kv import parse_kv
from rmbrec_pyg.data.errors import ConfigError, DatasetFormatError
from rmbrec_pyg.data.prepare import ID_MAPS, read_id_map

if TYPE_CHECKING:  # torch loads when the command runs, not for --help
    import torch

EXCLUDE = ('known', 'train')


def id_maps(cfg: object) -> Optional[Dict[str, Dict[int, str]]]:
    r"""The raw-id maps of the run's dataset folder, if it has them."""
    root = getattr(getattr(cfg, 'data', None), 'root', None)
    if not isinstance(root, str):
        return None
    paths = {k: os.path.join(root, v) for k, v in ID_MAPS.items()}
    if not all(os.path.isfile(p) for p in paths.values()):
        return None
    return {k: read_id_map(p) for k, p in paths.items()}


def read_users(path: str, num_users: int,
               raw: Optional[Dict[int, str]] = None) -> torch.Tensor:
    r"""0-based user ids from a file of 1-based ids, or of raw ids when
    :obj:`raw` (1-based id -> raw id) is given."""
    import torch
    lookup = None if raw is None else {r: i for i, r in raw.items()}
    ids = []
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            if lookup is not None:
                if line not in lookup:
                    raise DatasetFormatError(path, f'unknown raw user id '
                                             f'{line[:40]!r} (not in the '
                                             f"dataset's user_ids.csv)",
                                             lineno)
                ids.append(lookup[line] - 1)
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
              device: str = 'cpu', exclude: str = 'known') -> int:
    r"""Writes ``user,rank,item,score`` rows and returns their number.
    :obj:`exclude` is ``'known'`` (every target pair of the data left out)
    or ``'train'`` (the training pairs, as evaluated)."""
    import torch

    from rmbrec_pyg.cli.builders import load_data
    from rmbrec_pyg.cli.evaluate import ranking_of, run_config, saved_model
    from rmbrec_pyg.evaluation import Evaluator, topk_items
    from rmbrec_pyg.train.checkpoint import check_data, load_checkpoint
    from rmbrec_pyg.utils.io import write_text
    if k <= 0:
        raise ConfigError(f"'k' needs to be a positive integer (got {k})")
    if exclude not in EXCLUDE:
        raise ConfigError(f"'exclude' must be one of {EXCLUDE} (got "
                          f'{exclude!r})')
    state = load_checkpoint(checkpoint)
    cfg = run_config(os.path.dirname(os.path.abspath(checkpoint)), state)
    data = load_data(cfg)[1]
    check_data(state, data, checkpoint)
    dev = torch.device(device)
    enc, zu, zi = saved_model(state, data, dev, checkpoint)
    # The same masking and ranking options as the evaluation of the run.
    evaluator = Evaluator(data, device=dev)
    demote_aux, bonus = ranking_of(state, enc, evaluator)
    demote = bonus if bonus is not None else (
        evaluator.demote_index() if demote_aux is True else
        evaluator.demote_index(demote_aux)
        if isinstance(demote_aux, torch.Tensor) else None)
    maps = id_maps(cfg)
    users = (read_users(users_file, enc.num_users,
                        None if maps is None else maps['user'])
             if users_file else torch.arange(enc.num_users))
    mask = (evaluator.known_purchases() if exclude == 'known' else
            evaluator.exclude)
    items, scores = topk_items(zu, zi, users.to(dev), k, mask, batch_size,
                               demote=demote)
    items, scores = items.cpu(), scores.cpu()
    kk = items.size(1)
    user_col = (users + 1).repeat_interleave(kk).tolist()
    rank_col = torch.arange(1, kk + 1).repeat(users.numel()).tolist()
    item_col = (items.reshape(-1) + 1).tolist()
    score_col = scores.reshape(-1)
    valid = torch.isfinite(score_col).tolist()
    if maps is not None:
        user_col = [maps['user'][u] for u in user_col]
        item_col = [maps['item'][i] for i in item_col]
    lines = [f'{u},{r},{i},{s:.6f}' for u, r, i, s, ok in zip(
        user_col, rank_col, item_col, score_col.tolist(), valid) if ok]
    write_text(output, 'user,rank,item,score\n' + '\n'.join(lines) + '\n')
    return len(lines)


def main(argv: Optional[List[str]] = None) -> None:
    quiet_pipe()
    argv = sys.argv[1:] if argv is None else argv

    def run() -> None:
        args = parse_kv(argv, ['checkpoint'], {
            'k': '10', 'output': 'recs.csv', 'users': '', 'exclude': 'known',
            'batch_size': '4096', 'device': 'cpu'}, __doc__)
        try:
            k, bs = int(args['k']), int(args['batch_size'])
        except ValueError:
            raise ConfigError(f"'k' and 'batch_size' must be integers (got "
                              f"{args['k']!r}, {args['batch_size']!r})")
        t0 = time.perf_counter()
        n = recommend(args['checkpoint'], k, args['output'],
                      args['users'] or None, bs, args['device'],
                      args['exclude'])
        print(f"wrote {n} recommendations to {args['output']} in "
              f'{time.perf_counter() - t0:.1f}s')

    report_user_errors('rmbrec-recommend', run)


if __name__ == '__main__':
    main()
