r"""The time-based leave-one-out split of raw events, shared by
``rmbrec-prepare`` (CSV logs) and :class:`~rmbrec_pyg.data.
BehaviorEdgesToTypes` (PyG's behavior-attributed graphs)."""
from typing import Tuple

import numpy as np


def earliest_events(key: np.ndarray, time: np.ndarray
                    ) -> Tuple[np.ndarray, np.ndarray, int]:
    r"""Keeps the earliest event of every distinct :obj:`key`; returns the
    kept keys (sorted), their times and how many events were dropped."""
    order = np.lexsort((time, key))
    key, time = key[order], time[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return key[first], time[first], int((~first).sum())


def leave_one_out(users: np.ndarray, items: np.ndarray, times: np.ndarray,
                  num_users: int, min_target: int = 3
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    r"""Splits target events by time: every user's last event is test, the
    second last validation, the rest training; users with fewer than
    :obj:`min_target` (at least 3) events keep them all in training.

    Returns:
        :obj:`(train, val, test, heldout_users, train_only_users)`, the
        splits as :obj:`[2, n]` ``(user, item)`` arrays.
    """
    order = np.lexsort((items, times, users))  # per user by time
    users, items = users[order], items[order]
    counts = np.bincount(users, minlength=num_users)
    last = np.cumsum(counts) - 1  # position of each user's last event
    eligible = np.nonzero(counts >= max(min_target, 3))[0]
    test_pos, val_pos = last[eligible], last[eligible] - 1
    train = np.ones(users.size, dtype=bool)
    train[test_pos] = False
    train[val_pos] = False

    def pairs(sel: np.ndarray) -> np.ndarray:
        return np.stack([users[sel], items[sel]])
    return (pairs(train), pairs(val_pos), pairs(test_pos),
            int(eligible.size), int((counts > 0).sum() - eligible.size))
