r"""Parsing ``key=value`` command-line arguments (Hydra style) for the
small tools that need no config composition."""
from typing import Dict, List, Sequence

from rmbrec_pyg.data.errors import ConfigError


def parse_kv(argv: Sequence[str], required: Sequence[str],
             optional: Dict[str, str], prog: str) -> Dict[str, str]:
    r"""Parses :obj:`argv` of the form ``key=value`` into a dict, with the
    defaults of :obj:`optional`. Unknown or missing keys raise
    :class:`ConfigError` naming the allowed keys."""
    out = dict(optional)
    allowed: List[str] = list(required) + list(optional)
    for arg in argv:
        if '=' not in arg:
            raise ConfigError(f"{prog}: expected key=value arguments, got "
                              f"'{arg}' (keys: {', '.join(allowed)})")
        key, value = arg.split('=', 1)
        if key not in allowed:
            raise ConfigError(f"{prog}: unknown key '{key}' (keys: "
                              f"{', '.join(allowed)})")
        out[key] = value
    missing = [k for k in required if k not in out]
    if missing:
        raise ConfigError(f"{prog}: missing {', '.join(missing)}=... "
                          f"(keys: {', '.join(allowed)})")
    return out
