r"""Small helpers shared by every floor of the package: atomic file writes
and ``(user, item)`` pair keys."""
from rmbrec_pyg.utils.io import atomic_write, write_json, write_text
from rmbrec_pyg.utils.keys import keys_to_pairs, pair_keys

__all__ = ['atomic_write', 'write_json', 'write_text', 'pair_keys',
           'keys_to_pairs']
