r"""``rmbrec-train``: trains RMBRec (or an ablation) from Hydra configs.

Examples::

    rmbrec-train                                   # synthetic demo data
    rmbrec-train data=folder data.root=path/to/taobao trainer.max_epochs=1
    rmbrec-train experiment=taobao_noview data.root=../shared/data/taobao-noview
    rmbrec-train -m sweep=lambda_grid              # lambda1 x lambda2 grid
"""
import json
import logging
import os
import sys
import warnings
from typing import Any, Dict, List, Optional, Tuple

import hydra
import torch
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rmbrec_pyg.cli import config_dir
from rmbrec_pyg.cli.errors import USER_ERRORS, fail
from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.regularizers.base import Regularizer
from rmbrec_pyg.train.config import (FusionConfig, LossConfig, OptimConfig,
                                     TrainerConfig)
from rmbrec_pyg.train.loop import (Trainer, TrainingDivergedError,
                                   seed_everything)

log = logging.getLogger('rmbrec_pyg')

cs = ConfigStore.instance()
cs.store(group='trainer', name='base_trainer', node=TrainerConfig)
cs.store(group='loss', name='base_loss', node=LossConfig)
cs.store(group='optim', name='base_optim', node=OptimConfig)
cs.store(group='fusion', name='base_fusion', node=FusionConfig)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True)


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


def output_dir(cfg: DictConfig) -> str:
    if HydraConfig.initialized():
        return HydraConfig.get().runtime.output_dir
    return str(cfg.get('out_dir') or os.getcwd())


def init_distributed(trainer_cfg: TrainerConfig) -> None:
    r"""Under ``torchrun`` (``WORLD_SIZE > 1``), joins the process group:
    ``nccl`` with one GPU per rank when CUDA is used, ``gloo`` on CPU."""
    import torch.distributed as dist
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1 or dist.is_initialized():
        return
    use_cuda = torch.cuda.is_available() and trainer_cfg.device != 'cpu'
    if use_cuda:
        local = int(os.environ.get('LOCAL_RANK', '0'))
        torch.cuda.set_device(local)
        trainer_cfg.device = f'cuda:{local}'
    dist.init_process_group('nccl' if use_cuda else 'gloo')
    log.info('distributed: rank %d of %d (%s)', dist.get_rank(), world,
             dist.get_backend())


def evaluate_baseline(name: str, data: Any, trainer_cfg: TrainerConfig,
                      out: Optional[str]) -> Dict[str, Any]:
    r"""Scores a non-trained baseline (``baseline=most_popular``) with the
    same evaluation as the trained models and writes ``metrics.json``."""
    from rmbrec_pyg.data.hetero import edge_type
    from rmbrec_pyg.evaluation import (ExclusionIndex, aux_evidence_mask,
                                       heldout_metrics)
    from rmbrec_pyg.nn.popularity import MostPopular
    if name != 'most_popular':
        raise ConfigError(f"'baseline' must be 'most_popular' or null (got "
                          f'{name!r})')
    target = str(data.target)
    store = data[edge_type(target)]
    nu, ni = int(data['user'].num_nodes), int(data['item'].num_nodes)
    zu, zi = MostPopular(store.edge_index, nu, ni).get_embedding()
    labels = {s: store[f'{s}_edge_label_index'] for s in ('val', 'test')}
    aux = [data[edge_type(b)].edge_index for b in data.behaviors
           if b != target]
    has_aux = {s: aux_evidence_mask(v, aux, ni) for s, v in labels.items()}
    res = heldout_metrics(zu, zi, labels, ExclusionIndex(store.edge_index,
                                                         nu),
                          has_aux, trainer_cfg.ks,
                          trainer_cfg.eval_batch_size)
    metrics = {'best_epoch': 0, 'valid': res['val'], 'test': res['test'],
               'valid_groups': res['val_groups'],
               'test_groups': res['test_groups']}
    if out is not None:
        with open(os.path.join(out, 'metrics.json'), 'w') as f:
            json.dump(metrics, f, indent=2)
    print(f"{name}: test HR@10 {metrics['test']['HR@10']:.4f} NDCG@10 "
          f"{metrics['test']['NDCG@10']:.4f}", flush=True)
    return metrics


def _configs(cfg: DictConfig) -> Tuple[TrainerConfig, LossConfig,
                                       OptimConfig, FusionConfig]:
    r"""Validates the structured config groups, then sets threads, joins a
    distributed group (under ``torchrun``) and seeds everything."""
    trainer_cfg = TrainerConfig(**_plain(cfg.trainer))
    loss_cfg = LossConfig(**_plain(cfg.loss))
    optim_cfg = OptimConfig(**_plain(cfg.optim))
    fusion_cfg = FusionConfig(**_plain(cfg.fusion))
    for c in (trainer_cfg, loss_cfg, optim_cfg, fusion_cfg):
        c.validate()
    if trainer_cfg.num_threads > 0:
        torch.set_num_threads(trainer_cfg.num_threads)
    init_distributed(trainer_cfg)
    seed_everything(trainer_cfg.seed)
    return trainer_cfg, loss_cfg, optim_cfg, fusion_cfg


def load_data(cfg: DictConfig) -> Tuple[Any, Any, List[str]]:
    r"""Instantiates ``cfg.data`` and checks ``cfg.behaviors`` against it.
    Returns the dataset, its graph and the behaviors to use (all of the
    dataset's when ``behaviors`` is unset)."""
    try:
        dataset = instantiate(cfg.data)
    except Exception as e:
        cause = e.__cause__ or e
        if isinstance(cause, ValueError):
            raise cause
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
    return dataset, data, behaviors


def build_trainer(cfg: DictConfig, out: Optional[str] = None) -> Trainer:
    r"""Builds data, encoder, regularizers and the :class:`Trainer` from
    :obj:`cfg` (seeded, nothing trained). :obj:`out` is the run dir
    (``None``: write nothing). A non-trained baseline
    (``baseline=most_popular``) has no trainer: :func:`train` scores it."""
    if cfg.get('baseline'):
        raise ConfigError(f"baseline={cfg.baseline} is not trained and has "
                          'no Trainer; run it with train()')
    trainer_cfg, loss_cfg, optim_cfg, fusion_cfg = _configs(cfg)
    dataset, data, behaviors = load_data(cfg)
    regularizers = build_regularizers(cfg)
    if len(behaviors) == 1:
        regularizers = {}  # nothing to align with a single behavior
    encoder = instantiate(cfg.encoder, num_users=int(data['user'].num_nodes),
                          num_items=int(data['item'].num_nodes),
                          behaviors=behaviors, _convert_='all')
    log.info('data: %s', dataset)
    log.info('model: %s', encoder)
    for name, term in regularizers.items():
        log.info('regularizer %s: %s', name, term)
    rank = int(os.environ.get('RANK', '0'))
    if rank == 0 and out is not None:
        with open(os.path.join(out, 'config_resolved.yaml'), 'w') as f:
            f.write(OmegaConf.to_yaml(cfg, resolve=True))

    return Trainer(data, encoder, regularizers, trainer_cfg, loss_cfg,
                   optim_cfg, out_dir=out, fusion=fusion_cfg)


def train(cfg: DictConfig) -> Dict[str, Any]:
    r"""Builds data, encoder and regularizers from :obj:`cfg`, trains and
    returns the metrics. Plain function: usable without ``@hydra.main``
    (e.g. on a config from :func:`hydra.compose`)."""
    out = output_dir(cfg)
    os.makedirs(out, exist_ok=True)
    if cfg.get('baseline'):  # scored at once, nothing to train
        trainer_cfg = _configs(cfg)[0]
        return evaluate_baseline(str(cfg.baseline), load_data(cfg)[1],
                                 trainer_cfg, out)
    trainer = build_trainer(cfg, out)
    trainer_cfg = trainer.config
    log.info('device: %s, run dir: %s', trainer.device, out)
    metrics = trainer.fit()
    if trainer.distributed:
        # Every rank waits for rank 0's evaluation and writing before the
        # group is torn down: a rank that destroys it early can leave the
        # others hanging at exit (pytorch/pytorch#75097).
        import torch.distributed as dist
        dist.barrier()
        dist.destroy_process_group()
        # Keep the DDP wrapper (and the gloo objects it holds) alive until
        # main() leaves with os._exit: freeing them when this frame returns
        # ran gloo's C++ teardown, which could block on a peer that had
        # already exited (caught with py-spy: a worker idle at the return
        # of train(), about 1 run in 10 on a loaded 2-core machine).
        _KEEP_UNTIL_EXIT.append(trainer)
    if trainer.rank != 0:
        return metrics
    ks = trainer_cfg.ks
    line = ' '.join(f'{m}@{k} {metrics["test"].get(f"{m}@{k}", 0.0):.4f}'
                    for k in ks for m in ('HR', 'NDCG'))
    log.info('best epoch %d | test %s', metrics['best_epoch'], line)
    print(f"test (best validation epoch {metrics['best_epoch']}): {line}",
          flush=True)
    with open(os.path.join(out, 'metrics.json')) as f:
        json.load(f)  # written by the trainer; fail loudly if not
    return metrics


_KEEP_UNTIL_EXIT: List[Any] = []


@hydra.main(config_path=config_dir(), config_name='config',
            version_base='1.3')
def _hydra_main(cfg: DictConfig) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('default')
            metrics = train(cfg)
    except USER_ERRORS as e:
        fail('rmbrec-train', str(e))
    except TrainingDivergedError as e:
        print(f'rmbrec-train: training stopped: {e}', file=sys.stderr,
              flush=True)
        sys.exit(1)
    return float(metrics['valid'].get(cfg.trainer.monitor, 0.0))


def _precheck(argv: List[str]) -> None:
    # Hydra reports composition errors (an unknown preset such as
    # ``data=foo``, a value of the wrong type) as a multi-line message with
    # exit code 1. For a single run, compose first and report such mistakes
    # as one line with exit code 2, like every other input error.
    if any(a.startswith('-') or a.startswith('sweep=') for a in argv):
        return  # --help, --cfg, -m ...: Hydra's business
    argv = [a for a in argv if not a.startswith('hydra.')]
    if any(',' in a.split('=', 1)[-1] and '[' not in a for a in argv):
        return  # a sweep
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from rmbrec_pyg.cli.compose import compose_config
    try:
        compose_config(argv)
    except (HydraException, OmegaConfBaseException) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
        fail('rmbrec-train', f'invalid configuration: {first}')


def main() -> None:
    r"""Console entry point (``rmbrec-train``)."""
    _precheck(sys.argv[1:])
    _hydra_main()
    if int(os.environ.get('WORLD_SIZE', '1')) > 1:
        # Under torchrun, leave without running interpreter finalisers: a
        # gloo worker's C++ teardown can block on a peer that has already
        # exited (seen intermittently on a loaded 2-core machine), although
        # the process group was destroyed and every file was written.
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
