r"""Which edge types of a :class:`~torch_geometric.data.HeteroData` are
behaviors: those between one user and one item node type, under any names,
without the reverse edge types that
:class:`~torch_geometric.transforms.ToUndirected` adds."""
from typing import Any, Dict, List, Mapping, Tuple, Union

EdgeType = Tuple[str, str, str]


def behavior_edge_types(data: Any, target: Union[str, EdgeType, None] = None
                        ) -> Tuple[EdgeType, List[EdgeType]]:
    r"""The target edge type of a :class:`~torch_geometric.data.HeteroData`
    and all of its behaviors (the edge types between the target's source
    and destination node types, target last), under any names.

    :obj:`target` is an edge type, a relation name, or :obj:`None` for
    ``data.target`` (this package's datasets) or the only edge type.
    Reverse edge types (destination to source, as
    :class:`~torch_geometric.transforms.ToUndirected` adds them) are
    recognised and left out; any other edge type (e.g. user-user) raises a
    :class:`ValueError` naming it."""
    types = [tuple(t) for t in data.edge_types]
    if target is None:
        name = getattr(data, 'target', None) if 'target' in data else None
        if name is not None:
            target = str(name)
        elif len(types) == 1:
            target = types[0]  # type: ignore[assignment]
        else:
            raise ValueError(f'which edge type is the target behavior? pass '
                             f'target=, one of {types}')
    if isinstance(target, str):
        match = [t for t in types if t[1] == target]
        if len(match) != 1:
            raise ValueError(f'target {target!r} names {len(match)} edge '
                             f'types of {types}; pass the edge type')
        target = match[0]  # type: ignore[assignment]
    target = tuple(target)  # type: ignore[assignment]
    if target not in types:
        raise ValueError(f'target {target} is not an edge type of the data '
                         f'({types})')
    src, _, dst = target
    if src == dst:
        raise ValueError(f'target {target}: users and items need two node '
                         'types (a bipartite graph)')
    behaviors = [t for t in types if (t[0], t[2]) == (src, dst)]
    other = [t for t in types if (t[0], t[2]) not in ((src, dst), (dst, src))]
    if other:
        raise ValueError(f'edge types {other} are not between {src!r} and '
                         f'{dst!r}: a multi-behavior model takes only '
                         f'({src!r}, behavior, {dst!r}) edges')
    order = list(getattr(data, 'behaviors', None) or []) \
        if 'behaviors' in data else []
    behaviors.sort(key=lambda t: (t == target, order.index(t[1])
                                  if t[1] in order else len(order)))
    return target, behaviors  # type: ignore[return-value]


def forward_edge_types(edge_index_dict: Mapping[Any, Any]) -> Dict[Any, Any]:
    r""":obj:`edge_index_dict` without the reverse edge types that
    :class:`~torch_geometric.transforms.ToUndirected` adds
    (``(dst, 'rev_' + rel, src)`` beside ``(src, rel, dst)``); plain
    behavior-name keys are kept as they are."""
    keys = set(edge_index_dict)
    return {k: v for k, v in edge_index_dict.items()
            if not (isinstance(k, tuple) and len(k) == 3 and
                    str(k[1]).startswith('rev_') and
                    (k[2], str(k[1])[4:], k[0]) in keys)}
