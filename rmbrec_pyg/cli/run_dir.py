r"""The run dir's guard: one run writes a run dir at a time, and a run dir
that already holds a run is continued only with ``trainer.resume=true`` or
replaced only with ``trainer.overwrite=true``.

The lock is an advisory ``flock`` on ``<run dir>/.lock``, which the kernel
releases when the process ends, however it ends (``kill -9`` included), so
a crashed run never leaves a stale lock behind."""
import contextlib
import errno
import os
from typing import Iterator, List, Optional

from rmbrec_pyg.data.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock
    fcntl = None  # type: ignore[assignment]

#: The lock file, inside the run dir.
LOCK = '.lock'

#: What a run leaves in its run dir: one of them means the dir holds a run
#: (``metrics.json``: a finished one).
RUN_FILES = ('metrics.json', 'best.pt', 'last.pt')

#: What a replaced run's outputs are, removed by ``trainer.overwrite=true``
#: before the new run writes (so that nothing of the old run is mixed in).
OUTPUTS = RUN_FILES + ('metrics.csv', 'pretrain.csv', 'curves.png',
                       'fusion_weights.png', 'config_resolved.yaml')


def held_runs(out: str) -> List[str]:
    r"""The files of :data:`RUN_FILES` present in :obj:`out`."""
    return [f for f in RUN_FILES if os.path.isfile(os.path.join(out, f))]


def check_reuse(out: str, resume: bool, overwrite: bool) -> None:
    r"""Raises :class:`~rmbrec_pyg.data.errors.ConfigError` when a new run
    (neither :obj:`resume` nor :obj:`overwrite`) would write into a run dir
    that holds a run."""
    if resume and overwrite:
        raise ConfigError("'trainer.resume' and 'trainer.overwrite' exclude "
                          'each other: continue the run or replace it')
    found = held_runs(out)
    if found and not resume and not overwrite:
        state = ('a finished run' if 'metrics.json' in found
                 else 'an unfinished run')
        raise ConfigError(
            f"{out}: the run dir holds {state} ({', '.join(found)}); "
            'trainer.resume=true continues it, trainer.overwrite=true '
            'replaces it, or choose another hydra.run.dir')


def _lock(fd: int, out: str) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        owner = os.pread(fd, 32, 0).decode(errors='replace').strip()
        raise ConfigError(
            f'{out}: the run dir is being written by another run (pid '
            f"{owner or '?'}); wait for it to end, or choose another "
            'hydra.run.dir') from None


def probe(out: str, resume: bool, overwrite: bool) -> None:
    r"""The checks of :func:`claim` without holding the lock: run before
    Hydra writes its own files into an explicitly named run dir."""
    if not os.path.isdir(out):
        return
    path = os.path.join(out, LOCK)
    if os.path.exists(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            _lock(fd, out)
        finally:
            os.close(fd)  # releases the probe's lock
    check_reuse(out, resume, overwrite)


@contextlib.contextmanager
def claim(out: str, resume: bool = False, overwrite: bool = False,
          rank: Optional[int] = None) -> Iterator[None]:
    r"""Holds the run dir :obj:`out` for one run: refuses it while another
    run writes it, or when it holds a run and neither :obj:`resume` nor
    :obj:`overwrite` is set; with :obj:`overwrite`, removes the old run's
    :data:`OUTPUTS` first. Only rank 0 of a distributed run claims (the
    other ranks write nothing)."""
    if rank is None:
        rank = int(os.environ.get('RANK', '0'))
    if rank != 0:
        yield
        return
    os.makedirs(out, exist_ok=True)
    fd = os.open(os.path.join(out, LOCK), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _lock(fd, out)
        check_reuse(out, resume, overwrite)
        if overwrite:
            for name in OUTPUTS:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(out, name))
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock
