import ctypes
import ctypes.util
import sys

import pytest

from rmbrec_pyg.train.allocator import retain_freed_memory


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc')
def test_retain_freed_memory_is_idempotent():
    try:
        ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6').mallopt
    except (OSError, AttributeError):
        pytest.skip('not glibc')
    assert retain_freed_memory() is True
    assert retain_freed_memory() is True
