r"""From a raw event log (user, item, behavior, timestamp) to the dataset
folder layout, streaming the file in chunks, with maps from the raw ids to
the new ones."""
import csv
import json
import os
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from rmbrec_pyg.data.errors import ConfigError, DatasetFormatError
from rmbrec_pyg.data.split import earliest_events, leave_one_out
from rmbrec_pyg.utils.io import atomic_write, write_text

#: The raw-id maps written beside the dataset: ``raw_id,id`` rows, ``id``
#: being the 1-based id of the dataset files.
ID_MAPS = {'user': 'user_ids.csv', 'item': 'item_ids.csv'}

#: Raw ids that stand for a missing one (compared in lower case, stripped):
#: a line with such a user or item id is malformed (dropped and counted),
#: not a user or item of its own.
MISSING_IDS = frozenset({'', 'n/a', 'na', 'nan', 'null', 'none', 'nil',
                         '-', '?', 'undefined', '#n/a'})


def earlier_outputs(out_dir: str) -> List[str]:
    r"""The dataset files already in :obj:`out_dir` (``count.txt``, every
    ``*.txt`` and ``*.txt.gz``, the id maps), which a reader would take for
    this output's (an old behavior file would train as a behavior)."""
    if not os.path.isdir(out_dir):
        return []
    return sorted(f for f in os.listdir(out_dir)
                  if os.path.isfile(os.path.join(out_dir, f)) and (
                      f.endswith('.txt') or f.endswith('.txt.gz') or
                      f in ID_MAPS.values()))

#: The Tianchi/Taobao ``UserBehavior.csv`` layout (no header):
#: ``user_id,item_id,category_id,behavior_type,timestamp``.
TIANCHI = {
    'columns': ['user_id', 'item_id', 'category_id', 'behavior_type',
                'timestamp'],
    'user': 'user_id', 'item': 'item_id', 'behavior': 'behavior_type',
    'time': 'timestamp', 'header': False,
    'behavior_map': {'pv': 'view', 'cart': 'cart', 'fav': 'collect',
                     'buy': 'buy'},
}


@dataclass
class PrepareSummary:
    lines: int = 0
    malformed: int = 0
    unknown_behavior: int = 0
    duplicates: int = 0
    users: int = 0
    items: int = 0
    edges: Dict[str, int] = field(default_factory=dict)
    heldout_users: int = 0
    train_only_users: int = 0
    first_errors: List[str] = field(default_factory=list)

    def malformed_line(self, path: str, what: str) -> None:
        r"""Counts a malformed line; the first three are kept as examples
        naming the file and the line."""
        self.malformed += 1
        if len(self.first_errors) < 3:
            self.first_errors.append(f'{path}, line {self.lines}: {what}')

    def format(self) -> str:
        out = [f'read {self.lines:,} lines: {self.malformed:,} malformed, '
               f'{self.unknown_behavior:,} with an unmapped behavior, '
               f'{self.duplicates:,} repeated (user, item, behavior) '
               f'dropped (earliest kept)',
               f'{self.users:,} users, {self.items:,} items; held-out '
               f'validation/test pairs for {self.heldout_users:,} users, '
               f'{self.train_only_users:,} users with too few target events '
               f'kept in training only']
        out += [f'  {b}: {n:,} edges' for b, n in self.edges.items()]
        out += [f'  e.g. {e}' for e in self.first_errors]
        return '\n'.join(out)


class _Ids:
    r"""Maps raw ids (strings) to 0-based ints in order of appearance."""
    def __init__(self) -> None:
        self.map: Dict[str, int] = {}

    def get(self, raw: str) -> int:
        idx = self.map.get(raw)
        if idx is None:
            idx = self.map[raw] = len(self.map)
        return idx


def parse_time(text: str) -> Optional[int]:
    r"""Seconds since the epoch from an epoch number (``1511544070``,
    ``1511544070.5``) or an ISO-8601 date-time (``2017-11-24T17:40:49``,
    with or without a zone; naive times are taken as UTC), or :obj:`None`.
    """
    text = text.strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp())


def parse_behavior_map(spec: str) -> Dict[str, str]:
    r"""``'pv=view,fav=collect'`` -> :obj:`{'pv': 'view', 'fav':
    'collect'}`."""
    out = {}
    for part in spec.split(','):
        raw, eq, name = part.partition('=')
        if not eq or not raw.strip() or not name.strip():
            raise ConfigError(f"'--behavior-map' expects raw=name pairs "
                              f"separated by commas, e.g. "
                              f"'pv=view,fav=collect' (got {part!r} in "
                              f'{spec!r})')
        out[raw.strip()] = name.strip()
    return out


def prepare_events(path: str, out_dir: str, user: str = 'user',
                   item: str = 'item', behavior: str = 'behavior',
                   time: str = 'timestamp', target: str = 'buy',
                   behavior_map: Optional[Mapping[str, str]] = None,
                   columns: Optional[List[str]] = None, header: bool = True,
                   delimiter: str = ',', min_target: int = 3,
                   chunk_lines: int = 1_000_000,
                   overwrite: bool = False) -> PrepareSummary:
    r"""Converts an event log to a dataset folder.

    Ids are remapped to 1-based integers; for every (user, item, behavior)
    only the earliest event is kept; the target behavior is split
    leave-one-out by time (last -> ``test.txt``, second last ->
    ``validation.txt``); users with fewer than :obj:`min_target` target
    events keep all of them in training. The file is read in chunks of
    :obj:`chunk_lines` lines and reduced to numpy arrays as it goes, so the
    memory grows with the number of distinct events, not lines.

    Args:
        path (str): The CSV file (``.gz`` also read).
        out_dir (str): Where ``count.txt`` etc. are written.
        user, item, behavior, time (str): Column names.
        target (str): The target behavior (after :obj:`behavior_map`).
        behavior_map (Mapping[str, str], optional): Raw behavior name ->
            behavior name; raw names not in the map are dropped (counted).
            (default: identity)
        columns (List[str], optional): Column names when the file has no
            header.
        header (bool): Whether the first line holds the column names.
        delimiter (str): Field separator.
        min_target (int): Target events a user needs for held-out pairs.
        overwrite (bool): Replace an earlier output in :obj:`out_dir` (its
            dataset files are removed before the new ones are written);
            without it, such a folder is refused.

    Timestamps may be epoch numbers or ISO-8601 date-times
    (:func:`parse_time`). Besides the dataset files, ``user_ids.csv`` and
    ``item_ids.csv`` map every raw id to its new one (:data:`ID_MAPS`).
    A line whose user or item id is empty or a placeholder
    (:data:`MISSING_IDS`) is malformed. Nothing is written when the log
    cannot be read.
    """
    import gzip
    opener = gzip.open if path.endswith('.gz') else open
    if not os.path.isfile(path):
        raise DatasetFormatError(path, 'no such file')
    me = os.path.realpath(path)  # the log itself is never an output
    old = [f for f in earlier_outputs(out_dir)
           if os.path.realpath(os.path.join(out_dir, f)) != me]
    if old and not overwrite:
        listed = ', '.join(old[:4]) + (', ...' if len(old) > 4 else '')
        raise ConfigError(f'{out_dir}: the folder holds an earlier output '
                          f'({listed}), which training would read as part of '
                          'this one; write to a new folder, or pass '
                          '--overwrite to replace it')
    summary = PrepareSummary()
    users, items = _Ids(), _Ids()
    names: Dict[str, int] = {}
    acc_key = np.zeros(0, dtype=np.int64)
    acc_t = np.zeros(0, dtype=np.int64)
    f = opener(path, 'rt', encoding='utf-8-sig', newline='')  # type: ignore
    try:
        reader = csv.reader(f, delimiter=delimiter)
        if header:
            columns = next(reader, None)
            summary.lines += 1
        if not columns:
            raise DatasetFormatError(path, 'no header and no column names '
                                     'given; expected e.g. '
                                     "'user,item,behavior,timestamp'", 1)
        try:
            cu, ci, cb, ct = (columns.index(c) for c in (user, item,
                                                           behavior, time))
        except ValueError as e:
            raise DatasetFormatError(path, f'column missing ({e}); the '
                                     f'columns are {columns}', 1)
        width = len(columns)
        buf: List[tuple] = []

        def flush() -> None:
            nonlocal acc_key, acc_t
            if not buf:
                return
            arr = np.array(buf, dtype=np.int64)
            buf.clear()
            # key = (behavior, user, item) packed into one int64
            key = (arr[:, 2] << 58) | (arr[:, 0] << 29) | arr[:, 1]
            acc_key = np.concatenate([acc_key, key])
            acc_t = np.concatenate([acc_t, arr[:, 3]])
            acc_key, acc_t, dup = earliest_events(acc_key, acc_t)
            summary.duplicates += dup

        for row in reader:
            summary.lines += 1
            if len(row) != width:
                summary.malformed_line(path, f'expected {width} fields, got '
                                       f'{len(row)}')
                continue
            raw_b = row[cb].strip()
            b = (behavior_map.get(raw_b) if behavior_map is not None
                 else raw_b)
            if not b:
                summary.unknown_behavior += 1
                continue
            t = parse_time(row[ct])
            if t is None:
                summary.malformed_line(path, f'timestamp {row[ct]!r} is '
                                       'neither a number nor ISO-8601')
                continue
            raw_u, raw_i = row[cu].strip(), row[ci].strip()
            if raw_u.lower() in MISSING_IDS or raw_i.lower() in MISSING_IDS:
                kind, raw = (('user', row[cu]) if raw_u.lower() in
                             MISSING_IDS else ('item', row[ci]))
                summary.malformed_line(path, f'missing {kind} id {raw!r}')
                continue
            bid = names.setdefault(b, len(names))
            buf.append((users.get(raw_u), items.get(raw_i), bid, t))
            if len(buf) >= chunk_lines:
                flush()
        flush()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError,
            csv.Error) as e:
        what = 'a corrupt or truncated gzip file' if path.endswith('.gz') \
            else 'not readable as UTF-8 CSV'
        raise DatasetFormatError(path, f'could not read the log: {what} '
                                 f'({type(e).__name__}: {e}) after '
                                 f'{summary.lines:,} lines; nothing written')
    finally:
        f.close()
    if target not in names:
        seen = (f'every one of the {summary.lines:,} lines was malformed, '
                f'e.g. {summary.first_errors[0]}'
                if summary.first_errors and summary.malformed >= max(
                    summary.lines - int(header), 1)
                else f'behaviors seen: {sorted(names)}')
        raise DatasetFormatError(path, f"no event of the target behavior "
                                 f"'{target}' ({seen})")
    mask29 = (1 << 29) - 1
    beh = acc_key >> 58
    u = (acc_key >> 29) & mask29
    i = acc_key & mask29
    nu, ni = len(users.map), len(items.map)
    summary.users, summary.items = nu, ni
    os.makedirs(out_dir, exist_ok=True)
    for name in old:  # only with overwrite
        os.remove(os.path.join(out_dir, name))
    write_text(os.path.join(out_dir, 'count.txt'),
               json.dumps({'user': nu, 'item': ni}))
    for kind, ids in (('user', users), ('item', items)):
        _write_ids(os.path.join(out_dir, ID_MAPS[kind]), ids.map)

    def write(name: str, uu: np.ndarray, ii: np.ndarray) -> None:
        order = np.lexsort((ii, uu))
        atomic_write(os.path.join(out_dir, f'{name}.txt'),
                     lambda f: np.savetxt(f, np.stack(
                         [uu[order] + 1, ii[order] + 1], 1), fmt='%d'))
        summary.edges[name] = int(uu.size)

    tid = names[target]
    for b, bid in names.items():
        if bid != tid:
            sel = beh == bid
            write(b, u[sel], i[sel])
    sel = beh == tid
    train, val, test, summary.heldout_users, summary.train_only_users = \
        leave_one_out(u[sel], i[sel], acc_t[sel], nu, min_target)
    write(target, *train)
    write('validation', *val)
    write('test', *test)
    return summary


def _write_ids(path: str, ids: Dict[str, int]) -> None:
    def write(f: Any) -> None:
        out = csv.writer(f, lineterminator='\n')  # LF, as every output
        out.writerow(['raw_id', 'id'])
        out.writerows((raw, idx + 1) for raw, idx in ids.items())
    atomic_write(path, write)


def read_id_map(path: str) -> Dict[int, str]:
    r"""Reads a raw-id map (:data:`ID_MAPS`): 1-based id -> raw id."""
    out: Dict[int, str] = {}
    with open(path, newline='', encoding='utf-8-sig') as f:
        rows = csv.reader(f)
        if next(rows, None) != ['raw_id', 'id']:
            raise DatasetFormatError(path, "expected the header 'raw_id,id'",
                                     1)
        for lineno, row in enumerate(rows, start=2):
            if len(row) != 2 or not row[1].isdigit():
                raise DatasetFormatError(path, "expected 'raw_id,id' with "
                                         f'an integer id, got {row}', lineno)
            out[int(row[1])] = row[0]
    return out
