r"""The loss terms of an epoch, summed on the device without a sync per
step, and the first NaN or infinite term found afterwards."""
import math
from typing import Dict

import torch
from torch import Tensor

from rmbrec_pyg.train import distributed


class TrainingDivergedError(RuntimeError):
    r"""A loss term became NaN or infinite."""


class EpochTerms:
    r"""Accumulates the detached loss terms of every step of one epoch."""
    def __init__(self) -> None:
        self.sums: Dict[str, Tensor] = {}
        # Step at which each term first became NaN/inf (inf: never).
        self.first_bad: Dict[str, Tensor] = {}
        self.steps = 0

    def add(self, terms: Dict[str, Tensor]) -> None:
        for k, v in terms.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v
            bad = torch.where(torch.isfinite(v), math.inf, float(self.steps))
            self.first_bad[k] = (torch.minimum(self.first_bad[k], bad)
                                 if k in self.first_bad else bad)
        self.steps += 1

    def means(self, epoch: int) -> Dict[str, float]:
        r"""The mean of every term over the steps (and over ranks), with
        one device sync; raises :class:`TrainingDivergedError` naming the
        earliest term that was not finite, its epoch and batch."""
        keys = list(self.sums)
        stacked = torch.stack([self.sums[k] for k in keys]) / max(
            self.steps, 1)
        out = dict(zip(keys, distributed.mean_over_ranks(stacked).tolist()))
        if not all(math.isfinite(v) for v in out.values()):
            firsts = dict(zip(keys, torch.stack(
                [self.first_bad[k] for k in keys]).tolist()))
            # The earliest term wins; 'total' only if nothing else is bad.
            k = min(keys, key=lambda k: (firsts[k], k == 'total'))
            raise TrainingDivergedError(
                f"loss term '{k}' became {out[k]} in epoch {epoch} (batch "
                f'{int(firsts[k]) + 1}); the last good checkpoint is kept')
        return out
