r"""Exact full-ranking evaluation: the ranking engine
(:mod:`~rmbrec_pyg.evaluation.ranking`, with the certified-miss pre-pass of
:mod:`~rmbrec_pyg.evaluation.prepass`; sampled negatives in
:mod:`~rmbrec_pyg.evaluation.sampled`), the metric registry
(:mod:`~rmbrec_pyg.evaluation.metrics`), the protocol settings
(:class:`EvalConfig`) and the :class:`Evaluator` that puts them together on
a multi-behavior graph."""
from rmbrec_pyg.utils.lazy import lazy_exports

# Imported on first use: see rmbrec_pyg.utils.lazy.
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    'rmbrec_pyg.evaluation.config': ['EvalConfig', 'parse_negatives'],
    'rmbrec_pyg.evaluation.evaluator': ['GROUPS', 'SPLITS', 'Evaluator',
        'aux_evidence_mask', 'evaluate', 'group_metrics', 'ranked_lists'],
    'rmbrec_pyg.evaluation.exclusion': ['ExclusionIndex'],
    'rmbrec_pyg.evaluation.metrics': ['METRICS', 'RankedLists',
        'metric_names', 'ranking_metrics', 'register_metric'],
    'rmbrec_pyg.evaluation.prepass': ['certified_misses', 'cluster_users'],
    'rmbrec_pyg.evaluation.ranking': ['resolve_precision', 'target_ranks',
        'topk_items', 'topk_ranks'],
    'rmbrec_pyg.evaluation.sampled': ['draw_negatives', 'sampled_ranks'],
})
