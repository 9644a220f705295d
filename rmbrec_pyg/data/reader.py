r"""Readers for the folder layout of the multi-behavior datasets.

A dataset folder holds ``count.txt`` (JSON ``{"user": U, "item": I}``), one
``<behavior>.txt`` per behavior and ``validation.txt`` / ``test.txt``, each
line ``user item`` with 1-based ids. Every file may also be gzip-compressed
(``<name>.txt.gz``).
"""
import gzip
import json
import os
import os.path as osp
import warnings
import zlib
from typing import List, Optional, Tuple

import numpy as np

from rmbrec_pyg.data.errors import DatasetFormatError
from rmbrec_pyg.utils.keys import pair_keys

SPLIT_NAMES = ('validation', 'test')
RESERVED_NAMES = {'count', 'all', *SPLIT_NAMES}
#: File names starting with these are never behaviors: a misnamed split
#: (``valid.txt``) or a training dump must not be trained on.
RESERVED_PREFIXES = ('train', 'val', 'test', 'count')


def find_file(root: str, name: str) -> Optional[str]:
    r"""Returns the path of ``<name>.txt`` or ``<name>.txt.gz`` in
    :obj:`root`, or :obj:`None` if neither exists. Both at once is an
    error: which one holds the data is not ours to guess."""
    found = [osp.join(root, name + suffix) for suffix in ('.txt', '.txt.gz')
             if osp.isfile(osp.join(root, name + suffix))]
    if len(found) > 1:
        raise DatasetFormatError(
            found[1], f"both {name}.txt and {name}.txt.gz are in the "
            'folder: keep one of them')
    return found[0] if found else None


def _read_text(path: str) -> str:
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rt', encoding='utf-8') as f:  # type: ignore
            return f.read()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        what = 'a corrupt or truncated gzip file' if path.endswith('.gz') \
            else 'not readable UTF-8 text'
        raise DatasetFormatError(path, f'could not read the file: {what} '
                                 f'({type(e).__name__}: {e})')


#: The most users, and the most items, that ``count.txt`` may declare
#: (2^31 - 1: ids fit in int32, and per-node arrays in memory).
MAX_NODES = 2**31 - 1


def read_count(root: str) -> Tuple[int, int]:
    r"""Reads ``count.txt`` and returns :obj:`(num_users, num_items)`."""
    if osp.isfile(root):
        raise DatasetFormatError(root, 'a file, not a dataset folder; turn '
                                 'an event log into one with: rmbrec-prepare '
                                 f'{root} OUT_DIR, then data.root=OUT_DIR')
    if not osp.isdir(root):
        raise DatasetFormatError(root, 'dataset folder does not exist')
    path = find_file(root, 'count')
    if path is None:
        raise DatasetFormatError(
            osp.join(root, 'count.txt'),
            'missing file; expected JSON like {"user": 48749, "item": 39493}')
    text = _read_text(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetFormatError(
            path, f'expected JSON like {{"user": 48749, "item": 39493}} '
            f'({e.msg})', line=e.lineno)
    if not isinstance(obj, dict) or 'user' not in obj or 'item' not in obj:
        raise DatasetFormatError(
            path, f"expected a JSON object with keys 'user' and 'item', "
            f'got {text.strip()[:80]!r}', line=1)
    counts = []
    for key in ('user', 'item'):
        val = obj[key]
        if not isinstance(val, int) or isinstance(val, bool) or val <= 0:
            raise DatasetFormatError(
                path, f"expected '{key}' to be a positive integer, "
                f'got {val!r}', line=1)
        if val > MAX_NODES:
            raise DatasetFormatError(
                path, f"'{key}' is {val:,}: more than the {MAX_NODES:,} "
                f'{key}s a dataset may have (per-{key} arrays alone would '
                f'take {val * 8 / 2**30:,.0f} GiB)', line=1)
        counts.append(val)
    return counts[0], counts[1]


def _names(root: str) -> List[str]:
    out = []
    for fname in sorted(os.listdir(root)):
        for suffix in ('.txt.gz', '.txt'):
            if fname.endswith(suffix):
                out.append(fname[:-len(suffix)])
                break
    return out


def is_reserved(name: str) -> bool:
    r"""Whether a file name can never be a behavior: ``count``, ``all``,
    the splits, anything starting with ``train``, ``val``, ``test`` or
    ``count`` (e.g. a misnamed ``valid.txt``) and the authors'
    ``*_dict`` caches."""
    low = name.lower()
    return (low in RESERVED_NAMES or low.startswith(RESERVED_PREFIXES)
            or low.endswith('_dict'))


def detect_behaviors(root: str) -> List[str]:
    r"""Lists the behavior files of a folder: every ``*.txt``/``*.txt.gz``
    whose name is not reserved (:func:`is_reserved`)."""
    return [n for n in _names(root) if not is_reserved(n)]


def misnamed_splits(root: str) -> List[str]:
    r"""Files named like a split but not quite: likely misnamed splits
    (``valid.txt``, ``val.txt.gz``, ``testing.txt``)."""
    return [n for n in _names(root) if n.lower().startswith(('val', 'test'))
            and n.lower() not in SPLIT_NAMES]


def find_line(path: str, user: int, item: int) -> Optional[int]:
    r"""The first line of a ``user item`` file holding the 1-based pair, for
    error messages."""
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if line.split() == [str(user), str(item)]:
            return lineno
    return None


def _locate_bad_line(path: str, text: str, num_users: int,
                     num_items: int) -> DatasetFormatError:
    # Slow path, only taken once the fast parser failed: find the first
    # offending line and say what was expected.
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            return DatasetFormatError(
                path, f"expected two integer fields 'user item', got "
                f'{len(fields)} field(s): {line.strip()[:80]!r}', lineno)
        try:
            u, i = int(fields[0]), int(fields[1])
        except ValueError:
            return DatasetFormatError(
                path, f"expected two integer fields 'user item', got "
                f'{line.strip()[:80]!r}', lineno)
        if not 1 <= u <= num_users:
            return DatasetFormatError(
                path, f'user id {u} out of range: expected 1..{num_users} '
                f'(ids are 1-based, see count.txt)', lineno)
        if not 1 <= i <= num_items:
            return DatasetFormatError(
                path, f'item id {i} out of range: expected 1..{num_items} '
                f'(ids are 1-based, see count.txt)', lineno)
    return DatasetFormatError(path, 'could not parse the file')


def read_pairs(path: str, num_users: int, num_items: int,
               deduplicate: bool = True) -> np.ndarray:
    r"""Reads a ``user item`` file with 1-based ids and returns a
    :obj:`[2, E]` array of 0-based ids.

    Blank lines are skipped. Every other line must hold exactly two integer
    fields within ``1..num_users`` and ``1..num_items``; otherwise a
    :class:`DatasetFormatError` names the file and the line. Duplicate lines
    are dropped with a warning that gives their count.
    """
    text = _read_text(path)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DatasetFormatError(path, "file is empty; expected lines "
                                 "'user item' with 1-based ids")
    try:
        arr = np.array(text.split(), dtype=np.int64)
    except (ValueError, OverflowError):  # not an integer, or beyond int64
        raise _locate_bad_line(path, text, num_users, num_items)
    if arr.size != 2 * len(lines):
        raise _locate_bad_line(path, text, num_users, num_items)
    arr = arr.reshape(-1, 2).T
    if (arr[0].min() < 1 or arr[0].max() > num_users or arr[1].min() < 1
            or arr[1].max() > num_items):
        raise _locate_bad_line(path, text, num_users, num_items)
    arr = arr - 1
    if deduplicate:
        key = pair_keys(arr, num_items)
        uniq, first = np.unique(key, return_index=True)
        if uniq.size < key.size:
            warnings.warn(f'{path}: dropped {key.size - uniq.size} duplicate '
                          f'line(s)', stacklevel=2)
            arr = arr[:, np.sort(first)]
    return arr
