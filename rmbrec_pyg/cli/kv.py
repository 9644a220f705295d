r"""Parsing ``key=value`` command-line arguments (Hydra style) for the
small tools that need no config composition."""
import sys
from typing import Dict, List, Sequence

from rmbrec_pyg.data.errors import ConfigError


def parse_kv(argv: Sequence[str], required: Sequence[str],
             optional: Dict[str, str], usage: str = '') -> Dict[str, str]:
    r"""Parses :obj:`argv` of the form ``key=value`` into a dict, with the
    defaults of :obj:`optional`. ``-h``/``--help`` prints :obj:`usage` and
    exits 0. Unknown or missing keys raise :class:`ConfigError` naming the
    allowed keys."""
    if any(a in ('-h', '--help') for a in argv):
        print('usage: ' + usage.strip())
        sys.exit(0)
    out = dict(optional)
    allowed: List[str] = list(required) + list(optional)
    for arg in argv:
        if '=' not in arg:
            raise ConfigError(f"expected key=value arguments, got '{arg}' "
                              f"(keys: {', '.join(allowed)}; see --help)")
        key, value = arg.split('=', 1)
        if key not in allowed:
            raise ConfigError(f"unknown key '{key}' (keys: "
                              f"{', '.join(allowed)}; see --help)")
        out[key] = value
    missing = [k for k in required if k not in out]
    if missing:
        raise ConfigError(f"missing {', '.join(missing)}=... "
                          f"(keys: {', '.join(allowed)}; see --help)")
    return out
