r"""The "unbought auxiliary items first" rule (``model=aux_first``): no
training, the user's items of the auxiliary behaviors that the user has not
bought ranked first, then the most popular items. Which behaviors count and
how their items are ordered are chosen on validation among a few
candidates (:func:`rule_candidates`)."""
import itertools
from typing import Any, Dict, List, Tuple

from rmbrec_pyg.data.stats import training_bar
from rmbrec_pyg.evaluation.refind import Refind

#: How the rule orders the boosted items among themselves (then by
#: popularity): by popularity alone, by how many behaviors hold the item,
#: or by the training BAR of the best-aligned behavior that holds it. The
#: number of events per pair is not among them: the reader keeps one edge
#: per (user, item, behavior).
ORDERS = ('popularity', 'behaviors', 'bar')

# Popularity scores lie in [0, 1): a boost of 2 or more comes first.
_LEVEL = 2.0


def rule_boost(behaviors: List[str], order: str,
               bar: Dict[str, float]) -> Refind:
    r"""The boost of one candidate: :obj:`behaviors` held items first,
    ordered by :obj:`order` (see :data:`ORDERS`)."""
    if order == 'behaviors':
        values, reduce = [_LEVEL] * len(behaviors), 'sum'
    elif order == 'bar':
        rank = {b: r for r, b in enumerate(sorted(behaviors,
                                                  key=lambda b: bar[b]))}
        values = [_LEVEL * (1 + rank[b]) for b in behaviors]
        reduce = 'max'
    elif order == 'popularity':
        values, reduce = [_LEVEL] * len(behaviors), 'max'
    else:
        raise ValueError(f"'order' must be one of {ORDERS} (got {order!r})")
    return Refind(list(behaviors), [values, list(values)], 0.0, reduce,
                  {'order': order})


def rule_candidates(data: Any) -> List[Tuple[str, Refind]]:
    r"""Every candidate rule on :obj:`data`, named, the plainest first:
    most-popular alone, then for each set of auxiliary behaviors (all
    subsets up to three behaviors; beyond, all of them, each alone and all
    but one) each order of :data:`ORDERS`."""
    target = str(data.target)
    aux = [b for b in data.behaviors if b != target]
    bar = training_bar(data, aux)
    if len(aux) <= 3:
        subsets = [list(c) for n in range(len(aux), 0, -1)
                   for c in itertools.combinations(aux, n)]
    else:
        subsets = [aux] + [[b] for b in aux] + \
            [[c for c in aux if c != b] for b in aux]
    out: List[Tuple[str, Refind]] = [
        ('popular', Refind([], [[], []], 0.0, 'sum', {'order': 'none'}))]
    for subset in subsets:
        orders = ORDERS if len(subset) > 1 else ('popularity', )
        for order in orders:
            out.append((f"{'+'.join(subset)}/{order}",
                        rule_boost(subset, order, bar)))
    return out
