r"""Atomic checkpoints: written to a temporary file in the same folder and
renamed into place, so a kill never leaves a half-written file."""
import os
import tempfile
from typing import Any, Dict

import torch


def save_atomic(obj: Dict[str, Any], path: str) -> None:
    r"""Saves :obj:`obj` with :func:`torch.save` to a temporary file next to
    :obj:`path`, flushes it to disk and renames it over :obj:`path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.pt', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str, map_location: Any = 'cpu') -> Dict[str, Any]:
    return torch.load(path, map_location=map_location, weights_only=False)
