r"""Where and how reproducibly a run computes: the device and the seeds."""
import random

import numpy as np
import torch


def resolve_device(device: str) -> torch.device:
    r"""``'auto'`` is CUDA when available, else the CPU; other values are
    passed to :class:`torch.device`. A name torch does not know, or a CUDA
    device this machine does not have, raises
    :class:`~rmbrec_pyg.data.errors.ConfigError` naming
    ``trainer.device``."""
    from rmbrec_pyg.data.errors import ConfigError
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        out = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"'trainer.device' must be auto, cpu, cuda or "
                          f'cuda:N (got {device!r})')
    if out.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() \
            else 0
        if count == 0:
            raise ConfigError(f"'trainer.device={device}' but this machine "
                              'has no CUDA device: use trainer.device=cpu '
                              'or auto')
        if out.index is not None and out.index >= count:
            raise ConfigError(f"'trainer.device={device}' but this machine "
                              f'has {count} CUDA device(s)')
    elif out.type != 'cpu':
        raise ConfigError(f"'trainer.device' must be auto, cpu, cuda or "
                          f'cuda:N (got {device!r})')
    return out


def seed_everything(seed: int) -> None:
    r"""Seeds Python's, NumPy's and torch's global random sources."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
