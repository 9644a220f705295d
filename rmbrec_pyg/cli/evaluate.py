r"""``rmbrec-evaluate RUN_DIR [eval.KEY=VALUE ...] [checkpoint=best.pt]
[output=FILE] [device=cpu]``: rescores the saved model of a run under any
evaluation protocol, without training, from any working directory.

Examples::

    rmbrec-evaluate outputs/2026-11-30/10-00-00                 # as trained
    rmbrec-evaluate RUN_DIR eval.protocol=pair                  # per pair
    rmbrec-evaluate RUN_DIR eval.negatives=uniform:99           # sampled
    rmbrec-evaluate RUN_DIR eval.ks=[5,10,50] output=eval.json

The data, model and ranking options come from the checkpoint (its run's
configuration, with absolute paths); the ``eval`` settings are the run's,
changed by the ``eval.*`` arguments.
"""
from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from rmbrec_pyg.cli import quiet_pipe
from rmbrec_pyg.cli.errors import report_user_errors
from rmbrec_pyg.data.errors import ConfigError

if TYPE_CHECKING:  # torch loads when a command runs, not for --help
    import torch
    from torch import Tensor

USAGE = __doc__.split('\n\n')[0].replace('``', '')
OPTIONS = ('checkpoint', 'output', 'device')


def run_config(run_dir: str, state: Dict[str, Any]) -> Any:
    r"""The configuration a run was trained with: the checkpoint's own, or
    ``config_resolved.yaml`` of the run dir."""
    from omegaconf import OmegaConf
    if state.get('run_config') is not None:
        return OmegaConf.create(state['run_config'])
    path = os.path.join(run_dir, 'config_resolved.yaml')
    if not os.path.isfile(path):
        raise ConfigError(f"no configuration for the checkpoint in "
                          f"'{run_dir}': expected config_resolved.yaml")
    return OmegaConf.load(path)


def saved_model(state: Dict[str, Any], data: Any, device: torch.device,
                path: str = 'checkpoint') -> Tuple[Any, Tensor, Tensor]:
    r"""The model of a checkpoint :obj:`state` (RMBRec's encoder or a
    baseline, with its weights) on :obj:`device`, in eval mode, and its
    user and item embeddings over the training graphs of :obj:`data`."""
    import torch

    from rmbrec_pyg.data.errors import CheckpointError
    from rmbrec_pyg.data.hetero import edge_index_dict_of
    from rmbrec_pyg.nn.registry import model_from_config
    from rmbrec_pyg.train.checkpoint import load_encoder_state
    missing = [k for k in ('config', 'encoder')
               if not isinstance(state.get(k), dict)]
    if missing:
        raise CheckpointError(f"{path}: no '{missing[0]}' entry: not a "
                              "model checkpoint (rmbrec-train's best.pt)")
    try:
        model: Any = model_from_config(state['config'])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its 'config' entry does not "
                              f'describe a model ({type(e).__name__}: {e})')
    load_encoder_state(model, state['encoder'], path)
    model.to(device).eval()
    edges = edge_index_dict_of(data)
    adj = model.build_adjacency({b: edges[b] for b in model.behaviors},
                                model.num_users, model.num_items,
                                backend=model.sparse_backend, device=device)
    with torch.no_grad():
        zu, zi = model.get_embedding(adj)
    return model, zu, zi


def ranking_of(state: Dict[str, Any], model: Any,
               evaluator: Any) -> Tuple[Any, Any]:
    r"""How a checkpoint's model ranks, as the run evaluated it:
    :obj:`(demote_aux, bonus)` for :meth:`~rmbrec_pyg.evaluation.
    Evaluator.ranks` (auxiliary items last for all users, for a mask of
    users, or not; the re-finding boost of ``ranking.refind``)."""
    from rmbrec_pyg.evaluation.refind import Refind
    ranking = state.get('ranking') or {}
    bonus = evaluator.bonus(Refind.from_dict(ranking.get('refind')))
    if bonus is not None:
        return False, bonus
    if ranking.get('demote_aux'):
        return True, None
    users = model.demote_users()
    return (False if users is None else users), None


def eval_settings(cfg: Any, overrides: Sequence[str]) -> Any:
    r"""The run's ``eval`` group with :obj:`overrides` (``eval.KEY=VALUE``)
    applied, validated."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from rmbrec_pyg.evaluation import EvalConfig
    base = OmegaConf.structured(EvalConfig)
    try:
        node = OmegaConf.merge(base, cfg.get('eval') or {},
                               OmegaConf.from_dotlist(
                                   [o[len('eval.'):] for o in overrides]))
    except OmegaConfBaseException as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError(f'invalid eval setting: {first}')
    settings = EvalConfig(**OmegaConf.to_container(node))  # type: ignore
    settings.validate()
    return settings


def rescore(run_dir: str, overrides: Sequence[str] = (),
            checkpoint: str = 'best.pt', device: str = 'cpu'
            ) -> Dict[str, Any]:
    r"""The metrics of :obj:`run_dir`'s saved model under the run's
    evaluation settings changed by :obj:`overrides`."""
    import torch

    from rmbrec_pyg.cli.builders import load_data
    from rmbrec_pyg.evaluation import Evaluator
    from rmbrec_pyg.train.checkpoint import check_data, load_checkpoint
    if not os.path.isdir(run_dir):
        raise ConfigError(f"run dir '{run_dir}' does not exist")
    path = checkpoint if os.path.isabs(checkpoint) else os.path.join(
        run_dir, checkpoint)
    state = load_checkpoint(path)
    cfg = run_config(run_dir, state)
    settings = eval_settings(cfg, overrides)
    _, data, _ = load_data(cfg)
    check_data(state, data, path)
    dev = torch.device(device)
    encoder, zu, zi = saved_model(state, data, dev, path)
    evaluator = Evaluator(data, settings, dev)
    demote, bonus = ranking_of(state, encoder, evaluator)
    res = evaluator(zu, zi, demote_aux=demote, bonus=bonus)
    return {'run_dir': os.path.abspath(run_dir), 'checkpoint': path,
            'epoch': state.get('epoch'), 'protocol': evaluator.label,
            'valid': res.get('val', {}), 'test': res.get('test', {}),
            'valid_groups': res.get('val_groups'),
            'test_groups': res.get('test_groups')}


def main(argv: Optional[List[str]] = None) -> None:
    quiet_pipe()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('-h', '--help'):
        print('usage: ' + __doc__.strip().replace('``', '', 2))
        sys.exit(0 if argv else 2)

    def run() -> None:
        run_dir, rest = argv[0], argv[1:]
        opts = {'checkpoint': 'best.pt', 'output': '', 'device': 'cpu'}
        overrides = []
        for arg in rest:
            key, eq, value = arg.partition('=')
            if not eq:
                raise ConfigError(f"expected key=value arguments after "
                                  f"RUN_DIR, got '{arg}'")
            if key.startswith('eval.'):
                overrides.append(arg)
            elif key in OPTIONS:
                opts[key] = value
            else:
                raise ConfigError(f"unknown key '{key}' (keys: eval.*, "
                                  f"{', '.join(OPTIONS)})")
        out = rescore(run_dir, overrides, opts['checkpoint'], opts['device'])
        for split in ('valid', 'test'):
            line = ' '.join(f'{k} {v:.4f}' for k, v in out[split].items())
            print(f"{split} [{out['protocol']}]: {line}")
        if opts['output']:
            from rmbrec_pyg.utils.io import write_json
            write_json(opts['output'], out)
            print(f"wrote {opts['output']}")
        else:
            print(json.dumps({k: out[k] for k in ('protocol', 'epoch')}))

    report_user_errors('rmbrec-evaluate', run)


if __name__ == '__main__':
    main()
