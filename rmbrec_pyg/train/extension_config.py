r"""Settings of the trainer's extensions beyond the paper
(:mod:`rmbrec_pyg.train.extensions`): adaptive fusion of the behavior
towers, the target floor and the re-finding re-ranking, as dataclasses that
the CLI registers with Hydra's ConfigStore, as
:mod:`rmbrec_pyg.train.config` does for the training loop."""
from dataclasses import dataclass, field
from typing import List

from rmbrec_pyg.data.errors import ConfigError


@dataclass
class FusionConfig:
    r"""How the behavior towers are fused.

    Attributes:
        mode: ``'mean'`` (paper Eq. 8) or ``'adaptive'``
            (:class:`~rmbrec_pyg.nn.AdaptiveFusion`: learned weights with a
            prior from the training BAR).
        gate: ``'learned'``: the weights are a gate trained with the model
            and held near the prior by a KL term of weight :obj:`strength`;
            ``'prior'``: the weights *are* the prior, computed once from
            the training BAR (nothing learned from the training loss, which
            rewards the target tower for fitting the training purchases).
        prior_power: :math:`\gamma` in :math:`\pi_b \propto
            \mathrm{BAR}(b)^\gamma`.
        strength: Weight of the :math:`\mathrm{KL}(\mathbf{w}\|\pi)` term.
        calibrate: After training, choose on *validation* a mix
            :math:`(1-\alpha)\mathbf{w} + \alpha\,\mathbf{e}_{target}`
            among :obj:`alphas` (test reported at the chosen value).
        alphas: The grid for :obj:`calibrate`.
        demote_aux: With :obj:`calibrate`, also try ranking the items a user
            already has under an auxiliary behavior after all others (a
            direct-purchase regime), kept only if validation prefers it.
    """
    mode: str = 'mean'
    gate: str = 'prior'
    prior_power: float = 1.0
    strength: float = 1.0
    calibrate: bool = True
    alphas: List[float] = field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    demote_aux: bool = True

    def validate(self) -> None:
        if self.mode not in ('mean', 'adaptive'):
            raise ConfigError(f"'fusion.mode' must be 'mean' or 'adaptive' "
                              f'(got {self.mode!r})')
        if self.gate not in ('learned', 'prior'):
            raise ConfigError(f"'fusion.gate' must be 'learned' or 'prior' "
                              f'(got {self.gate!r})')
        if self.strength < 0 or self.prior_power < 0:
            raise ConfigError(f"'fusion.strength' and 'fusion.prior_power' "
                              f'must be >= 0 (got {self.strength}, '
                              f'{self.prior_power})')
        if any(not 0.0 <= a <= 1.0 for a in self.alphas):
            raise ConfigError(f"'fusion.alphas' must lie in [0, 1] (got "
                              f'{list(self.alphas)})')


@dataclass
class FloorConfig:
    r"""A floor under the multi-behavior model for purchases that no
    auxiliary behavior announces: a target-only LightGCN tower trained
    inside the model (:class:`~rmbrec_pyg.nn.TargetTower`) and a per-user
    blend of the two scores (:class:`~rmbrec_pyg.nn.ScoreBlend`), chosen on
    validation only.

    Attributes:
        mode: ``'none'`` or ``'tower'``.
        tower_reg: L2 weight on the tower's batch embeddings (LightGCN's
            :math:`10^{-4}`); the tower gets no Adam weight decay. The tower
            is selected on validation on its own (its best epoch), beside
            the model (see :class:`~rmbrec_pyg.train.calibration.
            BlendSearch`).
        betas: The blends tried after training, chosen per group of
            users. The grid is finer below 0.25, where a small share of
            the tower's score re-orders the model's close candidates: steps
            of 0.25 missed validation gains in the mixed and misaligned
            scenarios and on taobao-noview (``benchmarks/results/
            shift.md``).
        demote_aux: The calibration also tries ranking a group's
            auxiliary items last.
        threshold: Users whose share of training purchases announced by an
            auxiliary behavior is below this (or who have none) form the
            direct group. The default 0.01 takes only users none of whose
            training purchases a view or cart announced; validation
            preferred it to 0.5 (``benchmarks/results/shift.md``: clearly in
            the mixed scenario, within noise in the others).
    """
    mode: str = 'none'
    tower_reg: float = 1e-4
    betas: List[float] = field(
        default_factory=lambda: [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75,
                                 1.0])
    demote_aux: bool = True
    threshold: float = 0.01

    def validate(self) -> None:
        if self.mode not in ('none', 'tower'):
            raise ConfigError(f"'floor.mode' must be 'none' or 'tower' "
                              f'(got {self.mode!r})')
        if not self.betas or any(not 0.0 <= b <= 1.0 for b in self.betas):
            raise ConfigError(f"'floor.betas' must be a non-empty list in "
                              f'[0, 1] (got {list(self.betas)})')
        if self.tower_reg < 0:
            raise ConfigError(f"'floor.tower_reg' must be >= 0 (got "
                              f'{self.tower_reg})')
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"'floor.threshold' must lie in [0, 1] (got "
                              f'{self.threshold})')


@dataclass
class RerankConfig:
    r"""The re-finding boost (:class:`~rmbrec_pyg.evaluation.refind.
    Refind`): after training, on validation only, a value added to the
    scores of a user's unbought items of each auxiliary behavior, per group
    of users (:class:`~rmbrec_pyg.train.calibration.RefindSearch`).

    Attributes:
        mode: ``'none'`` or ``'refind'``.
        multipliers: The finite values tried, in units of the model's
            score spread (the mean over validation users of the standard
            deviation of their scores over all items).
        first: Also try "always first" (a value larger than any score
            difference).
        demote: Also try "always last" (the negative of that).
        threshold: The user groups (see :func:`~rmbrec_pyg.evaluation.
            refind.user_groups`); the same default as ``floor.threshold``.
        per_group: One choice per group of users (else one for all).
        rounds: Passes of the search over the behaviors (one value per
            behavior at a time, the others fixed).
        rechoose_blend: With the target floor, choose its blend again
            under the chosen boost (the tower then orders what the boost
            leaves, the discovery slots).
    """
    mode: str = 'none'
    multipliers: List[float] = field(
        default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0])
    first: bool = True
    demote: bool = True
    threshold: float = 0.01
    per_group: bool = True
    rounds: int = 2
    rechoose_blend: bool = True

    def validate(self) -> None:
        if self.mode not in ('none', 'refind'):
            raise ConfigError(f"'rerank.mode' must be 'none' or 'refind' "
                              f'(got {self.mode!r})')
        if any(m <= 0 for m in self.multipliers):
            raise ConfigError(f"'rerank.multipliers' must be positive (got "
                              f'{list(self.multipliers)})')
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"'rerank.threshold' must lie in [0, 1] (got "
                              f'{self.threshold})')
        if self.rounds <= 0:
            raise ConfigError(f"'rerank.rounds' must be positive (got "
                              f'{self.rounds})')
