r"""Checkpoints: written atomically (a kill never leaves a half-written
file) and loaded safely (:func:`torch.load` with ``weights_only=True``: a
checkpoint holds only tensors, numbers, strings and plain containers, and a
file that would run code while unpickling is refused before anything runs).

A run dir holds ``last.pt`` (everything needed to resume) and ``best.pt``
(the selected model: encoder weights and configuration, its metrics and
ranking options, and the run's configuration as plain data). Both carry
the checksums of their tensors (checked on every load: a damaged or
altered file is refused) and the fingerprint of the data they were trained
on (checked by a resume, ``rmbrec-evaluate`` and ``rmbrec-recommend``)."""
import os
import pickle
from typing import Any, Dict, List, Optional

import torch

from rmbrec_pyg.data.errors import CheckpointError, ConfigError
from rmbrec_pyg.utils.digest import changed_keys, tensor_digests
from rmbrec_pyg.utils.io import atomic_write

#: The entry of a checkpoint that holds its tensors' checksums.
CHECKSUMS = 'checksums'


def save_checkpoint(state: Dict[str, Any], path: str) -> None:
    r"""Saves :obj:`state` with :func:`torch.save`, atomically, with the
    checksums of its tensors (entry :data:`CHECKSUMS`)."""
    body = {k: v for k, v in state.items() if k != CHECKSUMS}
    body[CHECKSUMS] = tensor_digests(body)
    atomic_write(path, lambda f: torch.save(body, f), binary=True)


def verify_checksums(state: Dict[str, Any], path: str) -> None:
    r"""Raises :class:`~rmbrec_pyg.data.errors.CheckpointError` when a
    tensor of :obj:`state` does not match the checksum saved with it (a
    checkpoint from before checksums were saved has none to check)."""
    saved = state.get(CHECKSUMS)
    if not isinstance(saved, dict):
        return
    bad = changed_keys(saved, tensor_digests(
        {k: v for k, v in state.items() if k != CHECKSUMS}))
    if bad:
        more = f' and {len(bad) - 1} more' if len(bad) > 1 else ''
        raise CheckpointError(
            f"{path}: tensor '{bad[0]}'{more} does not match the checksum "
            'saved with it: the file is damaged or was altered; use another '
            'checkpoint or train again')


def check_data(state: Dict[str, Any], data: Any, path: str) -> None:
    r"""Raises :class:`~rmbrec_pyg.data.errors.ConfigError` when
    :obj:`data` is not the data the checkpoint :obj:`state` was trained on
    (see :mod:`rmbrec_pyg.data.fingerprint`; nothing to check for a
    checkpoint saved without a fingerprint)."""
    from rmbrec_pyg.data.fingerprint import data_fingerprint
    if isinstance(state.get('data'), dict):
        check_fingerprint(state, data_fingerprint(data), path)


def check_fingerprint(state: Dict[str, Any], now: Dict[str, str],
                      path: str) -> None:
    r""":func:`check_data` against a fingerprint already computed."""
    saved = state.get('data')
    if not isinstance(saved, dict):
        return
    changed = changed_keys(saved, now)
    if changed:
        raise ConfigError(
            f'{path}: the data is not what the model was trained on '
            f"({', '.join(changed)} changed); point data.root at the "
            'original data, or train again')


def load_checkpoint(path: str, map_location: Any = 'cpu') -> Dict[str, Any]:
    r"""Loads a checkpoint with ``weights_only=True``. Raises
    :class:`~rmbrec_pyg.data.errors.CheckpointError` (one line naming the
    file) if it is missing, corrupt or not plain data."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    with open(path, 'rb') as f:
        head = f.read(4)
    if not head.startswith(b'PK') and not head.startswith(b'\x80'):
        # neither torch.save's zip archive nor its legacy pickle format
        raise CheckpointError(f'{path}: not a checkpoint (torch.save writes '
                              'a zip archive; this file is something else)')
    try:
        state = torch.load(path, map_location=map_location,
                           weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ''
        raise CheckpointError(
            f"{path}: refused to load: the file holds more than tensors and "
            f"plain data, and unpickling it could run code ({first[:160]})")
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ''
        raise CheckpointError(f'{path}: not a readable checkpoint '
                              f'({type(e).__name__}: {first[:160]})')
    if not isinstance(state, dict):
        raise CheckpointError(f'{path}: expected a dict of checkpoint '
                              f'entries, got {type(state).__name__}')
    verify_checksums(state, path)
    return state


class RunCheckpoints:
    r"""The checkpoints of one run dir: ``last.pt`` after every epoch and
    ``best.pt`` when the monitored metric improves.

    Args:
        out_dir (str, optional): The run dir (:obj:`None`: nothing is
            written or read).
        enabled (bool): Write checkpoints at all. (default: :obj:`True`)
    """
    def __init__(self, out_dir: Optional[str], enabled: bool = True) -> None:
        self.out_dir = out_dir
        self.enabled = enabled and out_dir is not None

    def path(self, name: str) -> Optional[str]:
        return None if self.out_dir is None else os.path.join(
            self.out_dir, name)

    def save(self, last: Dict[str, Any],
             best: Optional[Dict[str, Any]] = None) -> None:
        r"""Writes ``last.pt`` and, when given, ``best.pt``."""
        if not self.enabled:
            return
        save_checkpoint(last, self.path('last.pt'))  # type: ignore[arg-type]
        if best is not None:
            self.save_best(best)

    def save_best(self, best: Dict[str, Any]) -> None:
        if self.enabled:
            save_checkpoint(best, self.path('best.pt'))  # type: ignore

    def load(self, name: str, map_location: Any = 'cpu'
             ) -> Optional[Dict[str, Any]]:
        r"""``name`` of this run dir, or :obj:`None` if there is none."""
        path = self.path(name)
        if path is None or not os.path.exists(path):
            return None
        return load_checkpoint(path, map_location)


#: Settings that a resumed run may change (prefixes of dotted keys): how
#: long it runs, where and with how many threads, what it prints and logs,
#: and how it is evaluated. Any other change could not be honoured (the
#: optimizer, the sampler and the model come back as they were).
RESUME_MAY_CHANGE = ('trainer.max_epochs', 'trainer.patience',
                     'trainer.resume', 'trainer.overwrite',
                     'trainer.progress', 'trainer.device',
                     'trainer.num_threads', 'trainer.eval_every',
                     'trainer.retain_freed_memory', 'out_dir', 'logger',
                     'eval.batch_size', 'eval.precision', 'eval.candidates',
                     'eval.clusters', 'hparams_search', 'sweep')


def _flatten(node: Any, prefix: str = '') -> Dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: Dict[str, Any] = {}
    for k, v in node.items():
        out.update(_flatten(v, f'{prefix}.{k}' if prefix else str(k)))
    return out


def changed_settings(old: Dict[str, Any], new: Dict[str, Any]
                     ) -> List[str]:
    r"""The dotted keys whose values differ between two run
    configurations, except those of :data:`RESUME_MAY_CHANGE`."""
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in set(a) | set(b)
                  if a.get(k) != b.get(k) and not any(
                      k == p or k.startswith(p + '.')
                      for p in RESUME_MAY_CHANGE))


def check_resume(out_dir: str, run_config: Dict[str, Any]) -> None:
    r"""Raises :class:`~rmbrec_pyg.data.errors.ConfigError` (one line,
    naming the keys) when the run dir's ``last.pt`` was trained with other
    settings than :obj:`run_config` in a way a resume cannot honour (see
    :data:`RESUME_MAY_CHANGE`). Nothing to check without ``last.pt``, or
    for one written before checkpoints kept their configuration."""
    path = os.path.join(out_dir, 'last.pt')
    if not os.path.isfile(path):
        return
    old = load_checkpoint(path).get('run_config')
    if not isinstance(old, dict):
        return
    changed = changed_settings(old, run_config)
    if changed:
        a, b = _flatten(old), _flatten(run_config)
        what = ', '.join(f'{k}={b.get(k)!r} (was {a.get(k)!r})'
                         for k in changed[:4])
        more = f' and {len(changed) - 4} more' if len(changed) > 4 else ''
        raise ConfigError(
            f'{path}: trainer.resume=true cannot honour changed settings: '
            f'{what}{more}; set them back, or train into a new run dir')


def training_state(trainer: Any) -> Dict[str, Any]:
    r"""What ``last.pt`` holds: everything a :class:`~rmbrec_pyg.train.
    Trainer` needs to resume and end as an uninterrupted run would."""
    return {'encoder': trainer.encoder.state_dict(),
            'regularizers': trainer.objective.regularizers.state_dict(),
            # sharded tables: the fused optimizer's state, gathered
            'optimizer': (trainer.optimizer.state_dict()
                          if trainer.config.tables != 'sharded' else
                          getattr(trainer, 'sharded_optimizer_state', None)),
            'generator': trainer.generator.get_state(),
            # sampled propagation: the neighbourhood draws' own stream
            'neighborhood_generator': _neighborhood_generator_state(trainer),
            # under torchrun: every rank's own streams (see own_streams)
            'rank_streams': _rank_streams(trainer),
            'torch_rng': torch.get_rng_state(), 'epoch': trainer.epoch,
            'best': trainer.best, 'history': trainer.history,
            'pretrained': trainer.pretrained,
            'run_config': trainer.run_config,
            'data': fingerprint(trainer),
            'cuda_rng': (torch.cuda.get_rng_state(trainer.device)
                         if trainer.device.type == 'cuda' else None)}


def _neighborhood_generator_state(trainer: Any) -> Optional[torch.Tensor]:
    gen = getattr(trainer.train_adj, 'generator', None)
    return None if gen is None else gen.get_state()


def _rank_streams(trainer: Any) -> Optional[List[Dict[str, Any]]]:
    # gathered after the epoch's training; rank 0's (which writes) as it
    # is now, after its evaluation, as a single process saves it
    every = getattr(trainer, 'rank_streams', None)
    return None if every is None else [own_streams(trainer)] + every[1:]


def own_streams(trainer: Any) -> Dict[str, Any]:
    r"""This rank's own random streams, which differ between ranks with
    sampled propagation (each rank draws its share's neighbourhoods): the
    neighbourhood generator's and torch's global one. Gathered from every
    rank into ``last.pt`` under ``torchrun``; each rank takes its own back
    on a resume."""
    return {'torch_rng': torch.get_rng_state(),
            'neighborhood_generator': _neighborhood_generator_state(trainer)}


def fingerprint(trainer: Any) -> Dict[str, str]:
    r"""The fingerprint of :obj:`trainer`'s data, computed once."""
    if getattr(trainer, '_data_fingerprint', None) is None:
        from rmbrec_pyg.data.fingerprint import data_fingerprint
        trainer._data_fingerprint = data_fingerprint(trainer.data)
    return trainer._data_fingerprint


def restore_training_state(trainer: Any, state: Dict[str, Any]) -> None:
    r"""Puts a :func:`training_state` back into :obj:`trainer` (refused
    with :class:`~rmbrec_pyg.data.errors.ConfigError` if the trainer's data
    is not the data the state was trained on)."""
    check_fingerprint(state, fingerprint(trainer),
                      trainer.checkpoints.path('last.pt') or 'last.pt')
    trainer.encoder.load_state_dict(state['encoder'])
    trainer.objective.regularizers.load_state_dict(state['regularizers'])
    if trainer.config.tables == 'sharded':
        from rmbrec_pyg.train import sharded
        sharded.restore(trainer, state['optimizer'])
    else:
        trainer.optimizer.load_state_dict(state['optimizer'])
    trainer.generator.set_state(state['generator'])
    gen = getattr(trainer.train_adj, 'generator', None)
    streams = {k: state.get(k) for k in ('torch_rng',
                                         'neighborhood_generator')}
    saved = state.get('rank_streams')  # None: one process
    ranks = 1 if saved is None else len(saved)
    if ranks != trainer.world_size:
        def n(k: int) -> str:
            return f"{k} rank{'s' if k != 1 else ''}"
        raise ConfigError(
            f"{trainer.checkpoints.path('last.pt') or 'last.pt'}: the run "
            f'was trained on {n(ranks)} and resumes on '
            f'{n(trainer.world_size)}; resume it on {n(ranks)}')
    if saved is not None:
        streams = saved[trainer.rank]
    if gen is not None and streams['neighborhood_generator'] is not None:
        gen.set_state(streams['neighborhood_generator'])
    torch.set_rng_state(streams['torch_rng'])
    if state.get('cuda_rng') is not None and trainer.device.type == 'cuda':
        torch.cuda.set_rng_state(state['cuda_rng'], trainer.device)
    trainer.epoch = int(state['epoch'])
    trainer.best = state['best']
    trainer.pretrained = state.get('pretrained')
    trainer.writer.history[:] = list(state['history'])


def ranking_options(trainer: Any) -> Dict[str, Any]:
    r"""``best.pt``'s ``ranking`` entry: how every tool ranks the selected
    model (auxiliary items last for every user, the re-finding boost)."""
    refind = getattr(trainer, 'refind', None)
    return {'demote_aux': bool(trainer.best.get('demote_aux')),
            'refind': None if refind is None else refind.to_dict()}


def best_model_state(trainer: Any) -> Dict[str, Any]:
    r"""What ``best.pt`` holds: the selected model (encoder weights, fusion
    included, and its configuration), its metrics, its ranking options and
    the run's configuration, all plain data."""
    return {'encoder': trainer.encoder.state_dict(), 'epoch': trainer.epoch,
            'best': trainer.best, 'config': trainer.encoder.config(),
            'target': str(trainer.data.target),
            'ranking': ranking_options(trainer),
            'run_config': trainer.run_config, 'data': fingerprint(trainer)}


def load_encoder_state(encoder: Any, state: Dict[str, Any],
                       path: str = 'checkpoint') -> None:
    r"""Loads an encoder state dict. A *computed* fusion (weights from the
    training BAR, nothing learned) may be missing from it: such an encoder
    trains exactly as one without fusion, so a run of one can be scored as
    the other. A state that does not fit (a missing weight, another shape)
    raises :class:`~rmbrec_pyg.data.errors.CheckpointError` naming
    :obj:`path`."""
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a wrong shape
        first = ' '.join(str(e).split())
        raise CheckpointError(f'{path}: the weights do not fit the '
                              f'model: {first[:300]}') from None
    fusion = getattr(encoder, 'fusion', None)
    computed = fusion is not None and not fusion.learn
    bad = [k for k in missing if not (computed and k.startswith('fusion.'))]
    if bad or unexpected:
        raise CheckpointError(
            f'{path}: the weights do not fit the model: missing {bad}, '
            f'unexpected {list(unexpected)}')
