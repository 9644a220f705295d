r"""Package exports that import their module on first use (PEP 562), so
that a light submodule (an error class, a config dataclass) can be imported
without loading torch and torch_geometric through the package's
``__init__``. The command-line ``--help`` paths depend on it."""
import importlib
import sys
from typing import Callable, Dict, List, Sequence, Tuple


def lazy_exports(
    package: str, exports: Dict[str, Sequence[str]],
) -> Tuple[Callable[[str], object], Callable[[], List[str]], List[str]]:
    r"""Returns ``(__getattr__, __dir__, __all__)`` for :obj:`package`.

    Args:
        package (str): The package's ``__name__``.
        exports (Dict[str, Sequence[str]]): Module path to the names it
            exports, e.g. ``{'rmbrec_pyg.data.errors': ['ConfigError']}``.

    Example::

        __getattr__, __dir__, __all__ = lazy_exports(__name__, {
            'rmbrec_pyg.data.errors': ['ConfigError'],
        })
    """
    where = {name: module for module, names in exports.items()
             for name in names}

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(
                f'module {package!r} has no attribute {name!r}')
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later reads are plain
        return value

    def __dir__() -> List[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__, list(where)
