r"""Atomic file writes: the content goes to a temporary file in the same
folder, is flushed to disk and renamed over the target, so that a kill
never leaves a half-written file behind."""
import json
import os
import tempfile
from typing import IO, Any, Callable


def atomic_write(path: str, write: Callable[[IO], None],
                 binary: bool = False) -> None:
    r"""Calls :obj:`write` on a temporary file next to :obj:`path`, then
    renames it over :obj:`path`.

    Args:
        path (str): The file to (re)place.
        write (callable): Writes the content into the open file object.
        binary (bool): Open the temporary file in binary mode.
            (default: :obj:`False`)
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=folder)
    try:
        # mkstemp makes the file private (0600); give it the mode any new
        # file gets here (0666 less the umask), as open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, 'wb' if binary else 'w', newline=None if binary
                       else '') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str, obj: Any, indent: int = 2) -> None:
    r"""Writes :obj:`obj` as JSON, atomically."""
    atomic_write(path, lambda f: json.dump(obj, f, indent=indent))


def write_text(path: str, text: str) -> None:
    r"""Writes :obj:`text`, atomically."""
    atomic_write(path, lambda f: f.write(text))
