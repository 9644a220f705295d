r"""Command-line entry points. This is the only subpackage that imports
Hydra and OmegaConf.

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets
it: torch reads it when it loads, and with the default (spinning) OpenMP
threads a run slows down several times as soon as another process uses the
CPU. Set ``OMP_WAIT_POLICY=ACTIVE`` to keep OpenMP's default.

Every console command calls :func:`quiet_pipe` first."""
import os
import os.path as osp
import signal

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')


def quiet_pipe() -> None:
    r"""A closed pipe (``rmbrec-train --help | head``) ends the command
    quietly, as it does any Unix tool, not with a ``BrokenPipeError``
    traceback. For console entry points only: a library leaves signals
    alone."""
    if hasattr(signal, 'SIGPIPE'):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def config_dir() -> str:
    r"""The Hydra config folder: ``conf/`` of a source checkout, else the
    copy shipped in the wheel as ``rmbrec_pyg/conf``."""
    here = osp.dirname(osp.dirname(osp.abspath(__file__)))
    checkout = osp.join(osp.dirname(here), 'conf')
    if osp.isfile(osp.join(checkout, 'config.yaml')) and osp.isfile(
            osp.join(osp.dirname(here), 'pyproject.toml')):
        return checkout
    return osp.join(here, 'conf')
