r"""Settings of the evaluation (the ``eval`` config group)."""
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, Optional, Tuple, Union

if TYPE_CHECKING:  # torch is not needed to read or check the settings
    import torch

from rmbrec_pyg.data.errors import ConfigError

PROTOCOLS = ('user', 'pair')
SAMPLERS = ('uniform', 'popularity')


def parse_negatives(spec: str) -> Tuple[str, int]:
    r"""``'uniform:99'`` -> :obj:`('uniform', 99)`."""
    kind, _, count = str(spec).partition(':')
    if kind not in SAMPLERS or not count.isdigit() or int(count) <= 0:
        raise ConfigError(f"'eval.negatives' must be null (full ranking) or "
                          f"'<sampler>:<count>' with sampler in {SAMPLERS} "
                          f"and a positive count, e.g. 'uniform:99' (got "
                          f'{spec!r})')
    return kind, int(count)


@dataclass
class EvalConfig:
    r"""How a model is scored on the held-out splits.

    Attributes:
        protocol: ``'user'`` (the paper's and RecBole's: every user is one
            ranked list and all of its held-out items count; metrics are
            averaged over users) or ``'pair'`` (every held-out pair is
            ranked on its own; averaged over pairs). They agree when every
            user holds out one item.
        negatives: :obj:`None` ranks every held-out item against all items
            (exact full ranking); ``'uniform:N'`` / ``'popularity:N'`` rank
            each held-out item against :math:`N` sampled negatives instead
            (older papers, RecBole's ``uniN``/``popN``): drawn once, seeded,
            from items the user has no training target interaction with
            and that are not held out for the user.
        ks: Cut-offs :math:`K`.
        metrics: Metric names of the registry
            (:data:`~rmbrec_pyg.evaluation.METRICS`; :obj:`None`: all).
        batch_size: Users ranked at once.
        precision: ``'fp32'``, ``'bf16'`` or ``'auto'`` (same ranks; see
            :func:`~rmbrec_pyg.evaluation.topk_items`).
        candidates: Candidates of the certified-miss pre-pass (same ranks;
            ``0`` ranks every user in full); ``'auto'``: 512 on CPU, where
            it pays, and 0 on CUDA, where ranking everything is faster.
        clusters: User groups of the pre-pass.
        seed: Seed of the sampled negatives.
    """
    protocol: str = 'user'
    negatives: Optional[str] = None
    ks: List[int] = field(default_factory=lambda: [10, 20])
    metrics: Optional[List[str]] = None
    batch_size: int = 4096
    precision: str = 'auto'
    candidates: Union[int, str] = 'auto'
    clusters: int = 64
    seed: int = 0

    def validate(self) -> None:
        from rmbrec_pyg.evaluation.metrics import METRICS
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"'eval.protocol' must be one of {PROTOCOLS} "
                              f'(got {self.protocol!r})')
        if self.negatives is not None:
            parse_negatives(self.negatives)
        if not self.ks or any(int(k) <= 0 for k in self.ks):
            raise ConfigError(f"'eval.ks' must be positive integers "
                              f'(got {list(self.ks)})')
        unknown = [m for m in self.metrics or [] if m not in METRICS]
        if unknown or (self.metrics is not None and not self.metrics):
            raise ConfigError(f"'eval.metrics' must name metrics of "
                              f'{list(METRICS)} (got {self.metrics})')
        if self.precision not in ('fp32', 'bf16', 'auto'):
            raise ConfigError(f"'eval.precision' must be 'fp32', 'bf16' or "
                              f"'auto' (got {self.precision!r})")
        if self.candidates != 'auto' and not (
                isinstance(self.candidates, int) and self.candidates >= 0):
            raise ConfigError(f"'eval.candidates' must be 'auto' or an "
                              f'integer >= 0 (got {self.candidates!r})')
        if self.batch_size <= 0 or self.clusters <= 0:
            raise ConfigError(f"'eval.batch_size' and 'eval.clusters' must "
                              f'be positive (got {self.batch_size}, '
                              f'{self.clusters})')

    @property
    def label(self) -> str:
        r"""How a figure was produced, e.g. ``'user/full'`` or
        ``'pair/sampled uniform:99'``: printed beside every metric."""
        ranking = 'full' if self.negatives is None else \
            f'sampled {self.negatives}'
        return f'{self.protocol}/{ranking}'

    def metric_names(self) -> List[str]:
        r"""Every reported name, ``f'{metric}@{K}'``."""
        from rmbrec_pyg.evaluation.metrics import metric_names
        return metric_names(self.ks, self.metrics)

    def resolve_candidates(self, device: 'torch.device') -> int:
        r"""The pre-pass size on :obj:`device` (``'auto'``: 512 on CPU, 0
        on CUDA)."""
        if self.candidates == 'auto':
            return 0 if device.type == 'cuda' else 512
        return int(self.candidates)

    def check_monitor(self, monitor: str) -> None:
        r"""Raises unless :obj:`monitor` is a reported validation metric."""
        if monitor not in self.metric_names():
            raise ConfigError(f"'trainer.monitor' must be one of "
                              f'{self.metric_names()} (got {monitor!r})')
