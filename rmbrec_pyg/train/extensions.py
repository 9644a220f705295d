r"""The optional parts of a model that depend on its training data:
adaptive fusion (weights from the training BAR) and the target floor (a
target-only tower and a per-user blend, users grouped by their training
purchases)."""
from typing import Any, Dict

from rmbrec_pyg.data.stats import user_training_bar
from rmbrec_pyg.nn.blend import ScoreBlend
from rmbrec_pyg.nn.fusion import AdaptiveFusion
from rmbrec_pyg.nn.target_tower import TargetTower
from rmbrec_pyg.train.extension_config import FloorConfig, FusionConfig


def attach_extensions(encoder: Any, data: Any,
                      fusion: FusionConfig, floor: FloorConfig) -> None:
    r"""Gives :obj:`encoder` the adaptive fusion and the target floor its
    configuration asks for, unless it has them already. A baseline
    (:class:`~rmbrec_pyg.nn.baselines.MultiBehaviorBaseline`) takes
    neither, and trains in one process."""
    from rmbrec_pyg.nn.baselines.base import MultiBehaviorBaseline
    if isinstance(encoder, MultiBehaviorBaseline):
        from rmbrec_pyg.data.errors import ConfigError
        from rmbrec_pyg.train.distributed import in_group
        name = encoder.__class__.__name__
        if fusion.mode != 'mean' or floor.mode != 'none':
            raise ConfigError(f"fusion={fusion.mode} and floor={floor.mode} "
                              f"are RMBRec's; the baseline {name} takes "
                              'fusion=mean floor=none')
        if in_group():
            raise ConfigError(f'the baseline {name} trains in one process '
                              '(its loss is called outside DDP)')
        return
    if fusion.mode == 'adaptive' and encoder.fusion is None:
        encoder.fusion = AdaptiveFusion.from_data(
            data, encoder.behaviors, fusion.prior_power,
            learn=fusion.gate == 'learned')
    if floor.mode == 'tower' and encoder.target_tower is None:
        from rmbrec_pyg.train.distributed import in_group
        if in_group():
            from rmbrec_pyg.data.errors import ConfigError
            raise ConfigError("'floor=tower' is single-process only for now "
                              '(its tower is called outside DDP)')
        encoder.target_tower = TargetTower(
            encoder.num_users, encoder.num_items, str(data.target),
            encoder.embedding_dim, encoder.num_layers, encoder.init_std)
        bar, has_target = user_training_bar(data)
        encoder.blend = ScoreBlend.from_training_bar(bar, has_target,
                                                     floor.threshold)


def extension_row(encoder: Any) -> Dict[str, float]:
    r"""The extensions' state for an epoch's row of ``metrics.csv``: the
    fusion weights (``w_<behavior>``) and the selected blend
    (``blend_beta``)."""
    row: Dict[str, float] = {}
    if encoder.fusion is not None:
        row.update({f'w_{b}': v for b, v in encoder.fusion.as_dict().items()})
    if encoder.blend is not None:
        row['blend_beta'] = float(encoder.blend.beta[0])
    return row
