r"""The re-finding boost: a user's unbought items of the auxiliary behaviors
(what is still in the cart, the favourites, ...) moved up the ranking by a
value per behavior and per group of users, chosen on validation
(:class:`~rmbrec_pyg.train.calibration.RefindSearch`). It is part of a
run's ranking options (``best.pt``'s ``ranking`` entry), so every tool ranks
as the run was evaluated."""
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import Tensor

from rmbrec_pyg.data.errors import CheckpointError
from rmbrec_pyg.evaluation.bonus import ScoreBonus

#: The two groups of users: users whose training purchases follow an
#: auxiliary behavior (0) and direct buyers or users without a training
#: purchase (1), as the target floor groups them.
GROUP_NAMES = ('research', 'direct')


def user_groups(data: Any, threshold: float) -> Tensor:
    r""":obj:`[U]` group of every user: 1 when the share of its training
    purchases announced by an auxiliary behavior is below
    :obj:`threshold` (or it has none), else 0."""
    from rmbrec_pyg.data.stats import user_training_bar
    bar, has_target = user_training_bar(data)
    return ((bar < threshold) | ~has_target).long()


@dataclass
class Refind:
    r"""What the ranking adds to the score :math:`s_{ui}` of a user's items
    under auxiliary behaviors,

    .. math::
        s'_{ui} = s_{ui} + \bigoplus_{b \,:\, (u, i) \in
        \mathcal{E}^{(b)}} v_{g(u), b},

    with :math:`\oplus` a sum (:obj:`reduce='sum'`) or a maximum, and one
    value :math:`v` per group :math:`g(u)` of :func:`user_groups` and per
    behavior. A value of 0 leaves the behavior out; one larger than any
    score difference puts its items first ("always first"), a negative one
    pushes them down. The user's training purchases stay masked, so only
    unbought items move.

    Attributes:
        behaviors: The auxiliary behaviors, in the order of :attr:`values`.
        values: :obj:`[2][len(behaviors)]` the added values.
        threshold: The grouping of :func:`user_groups`.
        reduce: ``'sum'`` or ``'max'`` over the behaviors holding a pair.
        chosen: How the values were chosen (for reports only).
    """
    behaviors: List[str]
    values: List[List[float]]
    threshold: float = 0.01
    reduce: str = 'sum'
    chosen: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reduce not in ('sum', 'max'):
            raise ValueError(f"'reduce' must be 'sum' or 'max' in 'Refind' "
                             f'(got {self.reduce!r})')
        if len(self.values) != 2 or any(len(v) != len(self.behaviors)
                                        for v in self.values):
            raise ValueError(f"'values' must be 2 rows of "
                             f'{len(self.behaviors)} values in '
                             f"'Refind' (got {self.values})")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: Optional[Mapping[str, Any]]
                  ) -> Optional['Refind']:
        r"""The boost of a checkpoint's ``ranking`` entry (:obj:`None`
        without one); raises :class:`~rmbrec_pyg.data.errors.
        CheckpointError` if it is malformed."""
        if state is None:
            return None
        try:
            return cls(behaviors=[str(b) for b in state['behaviors']],
                       values=[[float(x) for x in row]
                               for row in state['values']],
                       threshold=float(state['threshold']),
                       reduce=str(state['reduce']),
                       chosen=dict(state.get('chosen') or {}))
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"the checkpoint's re-finding boost "
                                  f'(ranking.refind) is malformed: {e}')

    @property
    def active(self) -> bool:
        return any(v != 0 for row in self.values for v in row)

    def index(self, data: Any, device: Optional[torch.device] = None,
              groups: Optional[Tensor] = None) -> ScoreBonus:
        r"""The :class:`ScoreBonus` of this boost on :obj:`data` (its
        training edges of :attr:`behaviors`)."""
        from rmbrec_pyg.data.hetero import edge_type
        missing = [b for b in self.behaviors if b not in data.behaviors]
        if missing:
            raise CheckpointError(
                f'the re-finding boost uses behaviors {missing} that the '
                f'data does not have (it has {list(data.behaviors)})')
        num_users = int(data['user'].num_nodes)
        num_items = int(data['item'].num_nodes)
        if groups is None:
            groups = user_groups(data, self.threshold)
        table = torch.tensor(self.values, dtype=torch.float)
        edges, vals = [], []
        for j, b in enumerate(self.behaviors):
            e = data[edge_type(b)].edge_index
            edges.append(e)
            vals.append(table[groups[e[0]], j])
        if not edges:
            edges, vals = [torch.zeros(2, 0, dtype=torch.long)], \
                [torch.zeros(0)]
        bonus = ScoreBonus(torch.cat(edges, 1), torch.cat(vals), num_users,
                           num_items, self.reduce)
        return bonus if device is None else bonus.to(device)
