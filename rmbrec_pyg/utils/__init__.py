r"""Small helpers shared by every floor of the package: atomic file writes,
``(user, item)`` pair keys and tensor checksums."""
from rmbrec_pyg.utils.lazy import lazy_exports

# Imported on first use: see rmbrec_pyg.utils.lazy.
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    'rmbrec_pyg.utils.io': ['atomic_write', 'write_json', 'write_text'],
    'rmbrec_pyg.utils.keys': ['keys_to_pairs', 'pair_keys'],
    'rmbrec_pyg.utils.digest': ['changed_keys', 'tensor_digest',
                                'tensor_digests'],
})
