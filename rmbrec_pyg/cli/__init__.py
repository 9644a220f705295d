r"""Command-line entry points. This is the only subpackage that imports
Hydra and OmegaConf."""
import os.path as osp


def config_dir() -> str:
    r"""The Hydra config folder: ``conf/`` of a source checkout, else the
    copy shipped in the wheel as ``rmbrec_pyg/conf``."""
    here = osp.dirname(osp.dirname(osp.abspath(__file__)))
    checkout = osp.join(osp.dirname(here), 'conf')
    if osp.isfile(osp.join(checkout, 'config.yaml')) and osp.isfile(
            osp.join(osp.dirname(here), 'pyproject.toml')):
        return checkout
    return osp.join(here, 'conf')
