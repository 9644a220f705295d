r"""Experiment trackers as :class:`~rmbrec_pyg.train.RunLogger`\ s, chosen
by the ``logger`` config group (``logger=[tensorboard,mlflow]``): each one
gets every epoch's row and the run's final metrics. Their packages are
optional extras; a missing one is a configuration error naming it."""
import os
from typing import Any, Dict, List, Optional

from rmbrec_pyg.data.errors import ConfigError
from rmbrec_pyg.train.run_writer import Row, RunLogger


def _require(package: str, extra: str) -> Any:
    import importlib
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ConfigError(f"logger '{extra}' needs the '{package}' package: "
                          f"pip install 'rmbrec_pyg[{extra}]'")


def _numbers(row: Dict[str, Any], prefix: str = '') -> Dict[str, float]:
    # Numeric entries, flattened, with names trackers accept ('@' is not).
    out: Dict[str, float] = {}
    for key, value in row.items():
        name = f'{prefix}{key}'.replace('@', '_at_')
        if isinstance(value, dict):
            out.update(_numbers(value, f'{name}/'))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def _flat(config: Any, prefix: str = '') -> Dict[str, str]:
    out: Dict[str, str] = {}
    for key, value in (config or {}).items():
        if isinstance(value, dict):
            out.update(_flat(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = str(value)[:250]
    return out


class TensorBoardLogger(RunLogger):
    r"""Every epoch's numbers as TensorBoard scalars under
    ``RUN_DIR/tensorboard`` (``tensorboard --logdir outputs``).

    Args:
        out_dir (str): The run dir.
        run_config (dict, optional): The run's configuration (unused).
    """
    def __init__(self, out_dir: str,
                 run_config: Optional[Dict[str, Any]] = None) -> None:
        _require('tensorboard', 'tensorboard')
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(os.path.join(out_dir, 'tensorboard'))

    def log_epoch(self, row: Row, history: List[Row],
                  improved: bool) -> None:
        step = int(row['epoch'])
        for key, value in _numbers(row).items():
            if key != 'epoch':
                self.writer.add_scalar(key.replace('_', '/', 1), value, step)
        self.writer.flush()

    def close(self, history: List[Row]) -> None:
        self.writer.close()


class _Tracker(RunLogger):
    # Keeps the run's latest metrics for the summary written at the end.
    final: Dict[str, Any] = {}

    def log_metrics(self, metrics: Dict[str, Any]) -> None:
        self.final = metrics

    def summary(self, prefix: str = '') -> Dict[str, float]:
        return _numbers({k: self.final[k] for k in ('valid', 'test',
                                                    'best_epoch')
                         if k in self.final}, prefix)


class MLflowLogger(_Tracker):
    r"""One MLflow run per training run, in a local file store: the
    configuration as parameters, every epoch's numbers as metrics (step =
    epoch) and the final metrics, ``curves.png`` as an artifact.

    Args:
        out_dir (str): The run dir.
        run_config (dict, optional): Logged as parameters.
        tracking_uri (str, optional): MLflow's store (default: ``mlruns``
            in the working directory, a local file store).
        experiment (str): The MLflow experiment. (default: ``'rmbrec'``)
    """
    def __init__(self, out_dir: str,
                 run_config: Optional[Dict[str, Any]] = None,
                 tracking_uri: Optional[str] = None,
                 experiment: str = 'rmbrec') -> None:
        self.mlflow = _require('mlflow', 'mlflow')
        self.out_dir = out_dir
        uri = tracking_uri or 'file:' + os.path.abspath('mlruns')
        if uri.startswith('file:'):  # MLflow 3 asks before using a file store
            os.environ.setdefault('MLFLOW_ALLOW_FILE_STORE', 'true')
        self.mlflow.set_tracking_uri(uri)
        self.mlflow.set_experiment(experiment)
        self.run = self.mlflow.start_run(run_name=os.path.basename(
            os.path.normpath(out_dir)))
        params = list(_flat(run_config).items())
        for start in range(0, len(params), 90):  # MLflow's batch limit
            self.mlflow.log_params(dict(params[start:start + 90]))

    def log_epoch(self, row: Row, history: List[Row],
                  improved: bool) -> None:
        self.mlflow.log_metrics({k: v for k, v in _numbers(row).items()
                                 if k != 'epoch'}, step=int(row['epoch']))

    def close(self, history: List[Row]) -> None:
        self.mlflow.log_metrics(self.summary('final/'))
        curves = os.path.join(self.out_dir, 'curves.png')
        if os.path.exists(curves):
            self.mlflow.log_artifact(curves)
        self.mlflow.end_run()


class WandbLogger(_Tracker):
    r"""One Weights & Biases run per training run, offline by default (in
    ``RUN_DIR/wandb``; ``wandb sync`` uploads it later): the configuration,
    every epoch's numbers and the final metrics as the run's summary.

    Args:
        out_dir (str): The run dir.
        run_config (dict, optional): The run's configuration.
        project (str): The W&B project. (default: ``'rmbrec'``)
        mode (str): ``'offline'``, ``'online'`` or ``'disabled'``.
            (default: ``'offline'``)
    """
    def __init__(self, out_dir: str,
                 run_config: Optional[Dict[str, Any]] = None,
                 project: str = 'rmbrec', mode: str = 'offline') -> None:
        wandb = _require('wandb', 'wandb')
        self.run = wandb.init(project=project, dir=out_dir, mode=mode,
                              config=run_config, name=os.path.basename(
                                  os.path.normpath(out_dir)))

    def log_epoch(self, row: Row, history: List[Row],
                  improved: bool) -> None:
        self.run.log({k: v for k, v in _numbers(row).items()
                      if k != 'epoch'}, step=int(row['epoch']))

    def close(self, history: List[Row]) -> None:
        self.run.summary.update(self.summary())
        self.run.finish()
