r"""From a composed Hydra config to the objects of a run: the structured
schemas (registered here, so that a wrong type fails at composition), the
dataset, the encoder with its fusion, the regularizers and the
:class:`~rmbrec_pyg.train.Trainer`. Every entry point (the CLI, the Python
API of :mod:`rmbrec_pyg.cli.compose`, the benchmarks) builds through
these functions."""
import logging
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from rmbrec_pyg.cli import config_dir, schemas  # noqa: F401 (registers)
from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.data.stats import heldout_summary
from rmbrec_pyg.evaluation import EvalConfig
from rmbrec_pyg.nn.baselines.base import MultiBehaviorBaseline
from rmbrec_pyg.regularizers.base import Regularizer
from rmbrec_pyg.train import distributed
from rmbrec_pyg.train.config import LossConfig, OptimConfig, TrainerConfig
from rmbrec_pyg.train.extension_config import (FloorConfig, FusionConfig,
                                               RerankConfig)
from rmbrec_pyg.train.extensions import attach_extensions
from rmbrec_pyg.train.runtime import seed_everything
from rmbrec_pyg.train.trainer import Trainer
from rmbrec_pyg.utils.io import write_json, write_text

log = logging.getLogger('rmbrec_pyg')

def compose_config(overrides: Sequence[str] = (),
                   out_dir: Optional[str] = None) -> DictConfig:
    r"""Returns the composed config for :obj:`overrides` (as on the
    command line), with :obj:`out_dir` set as the run dir."""
    with initialize_config_dir(config_dir=config_dir(), version_base='1.3'):
        cfg = compose(config_name='config', overrides=list(overrides))
    if out_dir is not None:
        with open_dict(cfg):
            cfg.out_dir = out_dir
    return cfg


def output_dir(cfg: DictConfig) -> str:
    r"""The run dir: Hydra's under ``@hydra.main``, else ``cfg.out_dir``
    (default: the working directory)."""
    from hydra.core.hydra_config import HydraConfig
    if HydraConfig.initialized():
        return HydraConfig.get().runtime.output_dir
    return str(cfg.get('out_dir') or os.getcwd())


def plain(node: Any) -> Any:
    r"""A config node as plain Python data (interpolations resolved)."""
    return OmegaConf.to_container(node, resolve=True)


def eval_config(cfg: DictConfig) -> EvalConfig:
    r"""The validated ``eval`` group."""
    eval_cfg = EvalConfig(**plain(cfg.eval))
    eval_cfg.validate()
    return eval_cfg


@dataclass
class Settings:
    r"""The validated structured groups of a composed config."""
    trainer: TrainerConfig
    loss: LossConfig
    optim: OptimConfig
    fusion: FusionConfig
    eval: EvalConfig
    floor: FloorConfig
    rerank: RerankConfig


def configs(cfg: DictConfig) -> Settings:
    r"""Validates the structured config groups, then sets threads, joins a
    distributed group (under ``torchrun``) and seeds everything."""
    out = Settings(TrainerConfig(**plain(cfg.trainer)),
                   LossConfig(**plain(cfg.loss)),
                   OptimConfig(**plain(cfg.optim)),
                   FusionConfig(**plain(cfg.fusion)), eval_config(cfg),
                   FloorConfig(**plain(cfg.floor)),
                   RerankConfig(**plain(cfg.rerank)))
    for c in (out.trainer, out.loss, out.optim, out.fusion, out.floor,
              out.rerank):
        c.validate()
    out.eval.check_monitor(out.trainer.monitor)
    if out.trainer.num_threads > 0:
        torch.set_num_threads(out.trainer.num_threads)
    out.trainer.device = distributed.init_process_group(out.trainer.device)
    seed_everything(out.trainer.seed)
    return out


def build_regularizers(cfg: DictConfig) -> Dict[str, Regularizer]:
    r"""Instantiates every ``_target_`` node of ``cfg.regularizer``."""
    out: Dict[str, Regularizer] = {}
    for name, node in (cfg.get('regularizer') or {}).items():
        if isinstance(node, DictConfig) and '_target_' in node:
            log.debug('instantiating regularizer %s <%s>', name,
                      node._target_)
            try:
                term = instantiate(node)
            except Exception as e:  # Hydra wraps the constructor's error
                cause = e.__cause__ or e
                if isinstance(cause, ValueError):
                    raise ConfigError(f'regularizer.{name}: {cause}')
                raise
            if not isinstance(term, Regularizer):
                raise ConfigError(
                    f'regularizer.{name}: {node._target_} is not a '
                    f'rmbrec_pyg.regularizers.Regularizer')
            out[str(name)] = term
    return out


def build_loggers(cfg: DictConfig, out: Optional[str]) -> List[Any]:
    r"""Instantiates the trackers of ``cfg.logger`` (``_target_`` nodes,
    given the run dir and the run's configuration); none without a run
    dir or off rank 0."""
    if out is None or int(os.environ.get('RANK', '0')) != 0:
        return []
    loggers = []
    for name, node in (cfg.get('logger') or {}).items():
        if isinstance(node, DictConfig) and '_target_' in node:
            try:  # the run's config as plain data, not instantiated
                make = instantiate(node, _partial_=True, _convert_='all')
                loggers.append(make(out_dir=out, run_config=plain(cfg)))
            except Exception as e:
                cause = e.__cause__ or e
                if isinstance(cause, ValueError):
                    raise ConfigError(f'logger.{name}: {cause}')
                raise
    return loggers


def load_data(cfg: DictConfig) -> Tuple[Any, Any, List[str]]:
    r"""Instantiates ``cfg.data`` and checks ``cfg.behaviors`` against it.
    Returns the dataset, its graph and the behaviors to use (all of the
    dataset's when ``behaviors`` is unset). Logs the behaviors and the
    held-out splits, and warns about users without any training edge."""
    missing = [f'data.{k}' for k in OmegaConf.missing_keys(cfg.data)]
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be set (e.g. "
                          f'{missing[0]}=PATH on the command line)')
    try:
        dataset = instantiate(cfg.data)
    except Exception as e:
        cause = e.__cause__ or e
        if isinstance(cause, ValueError):
            raise cause
        key = re.search(r"unexpected keyword argument '(\w+)'", str(cause))
        if isinstance(cause, TypeError) and key:
            target = str(cfg.data.get('_target_', '?')).rsplit('.', 1)[-1]
            hint = (' (a dataset folder: data=folder data.root=PATH)'
                    if key.group(1) == 'root' else '')
            raise ConfigError(f"'data.{key.group(1)}' is not a setting of "
                              f'the dataset {target}{hint}') from None
        raise
    data = dataset[0]
    available = list(data.behaviors)
    behaviors: List[str] = list(cfg.get('behaviors') or available)
    unknown = [b for b in behaviors if b not in available]
    if unknown:
        raise ConfigError(f"'behaviors' {unknown} not in the dataset's "
                          f'behaviors {available}')
    if str(data.target) not in behaviors:
        raise ConfigError(f"'behaviors' {behaviors} must include the target "
                          f"'{data.target}'")
    log.info('behaviors: %s (target %r; the dataset has %s)', behaviors,
             str(data.target), available)
    for split, h in heldout_summary(data).items():
        log.info('%s: %d held-out pairs of %d users (%d with auxiliary '
                 'evidence, %d direct; %d cold users)', split, h['pairs'],
                 h['users'], h['aux'], h['direct'], h['cold_users'])
        if h['cold_users']:
            warnings.warn(f"{h['cold_users']} {split} user(s) have no "
                          'training edge at all: scored from their initial '
                          "embeddings, reported as the 'cold' group")
    return dataset, data, behaviors


def build_encoder(cfg: DictConfig, data: Any, behaviors: List[str],
                  settings: Settings) -> Any:
    r"""The model of ``cfg.encoder`` over :obj:`behaviors` (RMBRec's
    encoder, with the adaptive fusion and the target floor the settings ask
    for, see :func:`~rmbrec_pyg.train.extensions.attach_extensions`; or a
    baseline of ``model=...``, which is also given the target)."""
    make = instantiate(cfg.encoder, _partial_=True, _convert_='all')
    extra = {'target': str(data.target)} if isinstance(make.func, type) and \
        issubclass(make.func, MultiBehaviorBaseline) else {}
    try:
        encoder = make(num_users=int(data['user'].num_nodes),
                       num_items=int(data['item'].num_nodes),
                       behaviors=behaviors, **extra)
    except ValueError as e:
        raise ConfigError(f'encoder: {e}')
    attach_extensions(encoder, data, settings.fusion, settings.floor)
    return encoder


def absolute_paths(cfg: DictConfig) -> DictConfig:
    r"""Makes ``data.root`` absolute (relative to the working directory),
    so that the saved configuration works from anywhere."""
    data = cfg.get('data')
    if isinstance(data, DictConfig) and 'root' in data and \
            not OmegaConf.is_missing(data, 'root') and \
            isinstance(data.root, str):
        with open_dict(cfg):
            cfg.data.root = os.path.abspath(os.path.expanduser(data.root))
    return cfg


#: The baselines scored without training (``baseline=...``).
BASELINE_RULES = ('most_popular', 'aux_first')


def build_trainer(cfg: DictConfig, out: Optional[str] = None) -> Trainer:
    r"""Builds data, encoder, regularizers and the :class:`Trainer` from
    :obj:`cfg` (seeded, nothing trained). :obj:`out` is the run dir
    (:obj:`None`: write nothing). A non-trained baseline
    (``baseline=most_popular``) has no trainer (see :func:`score_baseline`).
    """
    if cfg.get('baseline'):
        raise ConfigError(f"baseline={cfg.baseline} is not trained and has "
                          'no Trainer; run it with train()')
    settings = configs(cfg)
    cfg = absolute_paths(cfg)
    if settings.trainer.resume and out is not None:
        from rmbrec_pyg.train.checkpoint import check_resume
        check_resume(out, plain(cfg))  # before anything is written
    dataset, data, behaviors = load_data(cfg)
    regularizers = build_regularizers(cfg)
    if len(behaviors) == 1:
        regularizers = {}  # nothing to align with a single behavior
    encoder = build_encoder(cfg, data, behaviors, settings)
    log.info('data: %s', dataset)
    log.info('model: %s', encoder)
    for name, term in regularizers.items():
        log.info('regularizer %s: %s', name, term)
    if int(os.environ.get('RANK', '0')) == 0 and out is not None:
        write_text(os.path.join(out, 'config_resolved.yaml'),
                   OmegaConf.to_yaml(cfg, resolve=True))
    return Trainer(data, encoder, regularizers, settings.trainer,
                   settings.loss, settings.optim, out_dir=out,
                   fusion=settings.fusion, run_config=plain(cfg),
                   evaluation=settings.eval, floor=settings.floor,
                   rerank=settings.rerank, loggers=build_loggers(cfg, out))


def score_baseline(cfg: DictConfig, out: Optional[str]) -> Dict[str, Any]:
    r"""Scores a non-trained baseline with the same evaluation as the
    trained models and writes ``metrics.json`` and ``best.pt`` (so that
    ``rmbrec-evaluate`` and ``rmbrec-recommend`` take it like a trained
    run): ``baseline=most_popular``, or ``baseline=aux_first`` (the user's
    unbought auxiliary items first, then the most popular; its behaviors
    and order chosen on validation, see :mod:`rmbrec_pyg.train.rules`)."""
    from rmbrec_pyg.data.fingerprint import data_fingerprint
    from rmbrec_pyg.data.hetero import edge_type
    from rmbrec_pyg.evaluation import Evaluator
    from rmbrec_pyg.evaluation.refind import Refind
    from rmbrec_pyg.nn.popularity import MostPopular
    from rmbrec_pyg.train.checkpoint import save_checkpoint
    from rmbrec_pyg.train.rules import rule_candidates
    name = str(cfg.baseline)
    if name not in BASELINE_RULES:
        raise ConfigError(f"'baseline' must be one of {BASELINE_RULES} or "
                          f'null (got {name!r})')
    settings = configs(cfg)
    cfg = absolute_paths(cfg)
    data = load_data(cfg)[1]
    target = str(data.target)
    model = MostPopular(data[edge_type(target)].edge_index,
                        int(data['user'].num_nodes),
                        int(data['item'].num_nodes), target)
    zu, zi = model.get_embedding()
    evaluator = Evaluator(data, settings.eval,
                          required=('val', ) if name == 'aux_first' else ())
    refind: Optional[Refind] = None
    rule: Dict[str, Any] = {}
    if name == 'aux_first':
        monitor = settings.trainer.monitor
        scores: Dict[str, float] = {}
        best, chosen = -float('inf'), ''
        for label, cand in rule_candidates(data):
            res = evaluator(zu, zi, ('val', ), bonus=evaluator.bonus(cand))
            scores[label] = res['val'][monitor]
            if scores[label] > best:  # ties keep the plainer rule
                best, refind, chosen = scores[label], cand, label
        rule = {'rule': {'chosen': chosen, 'validation': scores,
                         'monitor': monitor}}
        log.info('aux_first on validation %s: %s', monitor, scores)
    res = evaluator(zu, zi, bonus=evaluator.bonus(refind))
    metrics = {'best_epoch': 0, 'protocol': evaluator.label,
               'valid': res.get('val', {}), 'test': res.get('test', {}),
               'valid_groups': res.get('val_groups'),
               'test_groups': res.get('test_groups'), **rule}
    if out is not None:
        write_json(os.path.join(out, 'metrics.json'), metrics)
        save_checkpoint({
            'encoder': model.state_dict(), 'config': model.config(),
            'epoch': 0, 'best': metrics, 'target': target,
            'ranking': {'demote_aux': False, 'refind': None if refind is None
                        else refind.to_dict()},
            'run_config': plain(cfg), 'data': data_fingerprint(data)},
            os.path.join(out, 'best.pt'))
    return metrics
