r"""Where and how reproducibly a run computes: the device and the seeds."""
import random

import numpy as np
import torch


def resolve_device(device: str) -> torch.device:
    r"""``'auto'`` is CUDA when available, else the CPU; other values are
    passed to :class:`torch.device`."""
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(device)


def seed_everything(seed: int) -> None:
    r"""Seeds Python's, NumPy's and torch's global random sources."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
