r"""Exact full-ranking evaluation: the ranking engine
(:mod:`~rmbrec_pyg.evaluation.ranking`, with the certified-miss pre-pass of
:mod:`~rmbrec_pyg.evaluation.prepass`), the metric registry
(:mod:`~rmbrec_pyg.evaluation.metrics`) and the :class:`Evaluator` that
puts them together on a multi-behavior graph."""
from rmbrec_pyg.evaluation.evaluator import (SPLITS, Evaluator,
                                             aux_evidence_mask, evaluate,
                                             group_metrics)
from rmbrec_pyg.evaluation.exclusion import ExclusionIndex
from rmbrec_pyg.evaluation.metrics import (METRICS, RankedLists,
                                           metric_names, ranking_metrics,
                                           register_metric)
from rmbrec_pyg.evaluation.prepass import certified_misses, cluster_users
from rmbrec_pyg.evaluation.ranking import (resolve_precision, target_ranks,
                                           topk_items, topk_ranks)

__all__ = [
    'SPLITS', 'Evaluator', 'aux_evidence_mask', 'evaluate', 'group_metrics',
    'ExclusionIndex', 'METRICS', 'RankedLists', 'metric_names',
    'ranking_metrics', 'register_metric', 'certified_misses',
    'cluster_users', 'resolve_precision', 'target_ranks', 'topk_items',
    'topk_ranks'
]
