r"""Exact full-ranking evaluation: the ranking engine
(:mod:`~rmbrec_pyg.evaluation.ranking`, with the certified-miss pre-pass of
:mod:`~rmbrec_pyg.evaluation.prepass`; sampled negatives in
:mod:`~rmbrec_pyg.evaluation.sampled`), the metric registry
(:mod:`~rmbrec_pyg.evaluation.metrics`), the protocol settings
(:class:`EvalConfig`) and the :class:`Evaluator` that puts them together on
a multi-behavior graph."""
from rmbrec_pyg.evaluation.config import EvalConfig, parse_negatives
from rmbrec_pyg.evaluation.evaluator import (GROUPS, SPLITS, Evaluator,
                                             aux_evidence_mask, evaluate,
                                             group_metrics, ranked_lists)
from rmbrec_pyg.evaluation.exclusion import ExclusionIndex
from rmbrec_pyg.evaluation.metrics import (METRICS, RankedLists,
                                           metric_names, ranking_metrics,
                                           register_metric)
from rmbrec_pyg.evaluation.prepass import certified_misses, cluster_users
from rmbrec_pyg.evaluation.ranking import (resolve_precision, target_ranks,
                                           topk_items, topk_ranks)
from rmbrec_pyg.evaluation.sampled import draw_negatives, sampled_ranks

__all__ = [
    'EvalConfig', 'parse_negatives', 'GROUPS', 'SPLITS', 'Evaluator',
    'aux_evidence_mask', 'evaluate', 'group_metrics', 'ranked_lists',
    'ExclusionIndex', 'METRICS', 'RankedLists', 'metric_names',
    'ranking_metrics', 'register_metric', 'certified_misses',
    'cluster_users', 'resolve_precision', 'target_ranks', 'topk_items',
    'topk_ranks', 'draw_negatives', 'sampled_ranks'
]
