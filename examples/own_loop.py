r"""Example: your own PyG training loop, on your own HeteroData, with RMBRec's
two robustness terms added.

The data is a shop's graph under its own names: ``('customer', 'purchase',
'product')`` edges (the target) beside ``click`` and ``cart`` edges,
optionally made undirected by :class:`~torch_geometric.transforms.
ToUndirected` (``--undirected``). The loop is PyG's LightGCN recipe (BPR on
sampled edges, ``model.recommendation_loss``, recall at k over all items);
:class:`~rmbrec_pyg.nn.MultiBehaviorLightGCN` replaces PyG's ``LightGCN``
in the constructor, and RRM and ORM are three more lines in the step
(marked ``# RMBRec``).

    python examples/own_loop.py                   # RRM and ORM on
    python examples/own_loop.py --rrm 0 --orm 0   # the plain loop
    python examples/own_loop.py --undirected
"""
import argparse
from typing import Dict

import torch
import torch_geometric.transforms as T
from torch_geometric.data import HeteroData

from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
from rmbrec_pyg.nn import MultiBehaviorLightGCN


def shop_graph(users: int, items: int, undirected: bool) -> HeteroData:
    r"""A synthetic multi-behavior log under a shop's names (no
    ``data.behaviors`` or ``data.target``: a HeteroData built by hand)."""
    synthetic = SyntheticMultiBehaviorDataset(num_users=users,
                                              num_items=items)[0]
    data = HeteroData()
    data['customer'].num_nodes, data['product'].num_nodes = users, items
    for ours, theirs in (('view', 'click'), ('cart', 'cart'),
                         ('buy', 'purchase')):
        store = synthetic['user', ours, 'item']
        data['customer', theirs, 'product'].edge_index = store.edge_index
    data['customer', 'purchase', 'product'].test_edge_label_index = \
        synthetic['user', 'buy', 'item'].test_edge_label_index
    return T.ToUndirected()(data) if undirected else data


def main(argv=None) -> Dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--users', type=int, default=1000)
    parser.add_argument('--items', type=int, default=600)
    parser.add_argument('--k', type=int, default=20)
    parser.add_argument('--rrm', type=float, default=0.1, help='lambda1')
    parser.add_argument('--orm', type=float, default=0.1, help='lambda2')
    parser.add_argument('--undirected', action='store_true')
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    data = shop_graph(args.users, args.items, args.undirected)
    num_users, num_items = args.users, args.items
    buy = data['customer', 'purchase', 'product']
    # PyG's homogeneous numbering: customers 0..U-1, products U..U+I-1.
    train_edge_label_index = torch.stack([buy.edge_index[0],
                                          buy.edge_index[1] + num_users])
    edge_index = torch.cat([train_edge_label_index,
                            train_edge_label_index.flip(0)], dim=1)
    test = buy.test_edge_label_index

    model = MultiBehaviorLightGCN(data, embedding_dim=64, num_layers=2,
                                  target=('customer', 'purchase', 'product'),
                                  rrm_weight=args.rrm, orm_weight=args.orm)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = torch.utils.data.DataLoader(
        range(train_edge_label_index.size(1)), shuffle=True, batch_size=2048)

    def train() -> float:
        total = 0.0
        for index in loader:
            pos = train_edge_label_index[:, index]
            neg = torch.stack([pos[0], torch.randint(
                num_users, num_users + num_items, (index.numel(), ))])
            edge_label_index = torch.cat([pos, neg], dim=1)
            optimizer.zero_grad()
            pos_rank, neg_rank = model(edge_index, edge_label_index).chunk(2)
            loss = model.recommendation_loss(
                pos_rank, neg_rank, node_id=edge_label_index.unique())
            if args.rrm:  # RMBRec: RRM over the batch's customers
                loss = loss + model.contrastive_loss(pos[0])
            if args.orm:  # RMBRec: ORM over one BPR loss per behavior
                triples = model.sample_behavior_triples(index.numel())
                loss = loss + model.robustness_loss(
                    model.behavior_losses(triples))
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * index.numel()
        return total / train_edge_label_index.size(1)

    @torch.no_grad()
    def evaluate(k: int) -> Dict[str, float]:
        top = model.recommend(edge_index, k=k, exclude_bought=True)
        hits = (top[test[0]] == (test[1] + num_users)[:, None]).any(-1)
        return {f'recall@{k}': float(hits.float().mean())}

    for epoch in range(1, args.epochs + 1):
        loss = train()
        if epoch % 10 == 0 or epoch == args.epochs:
            metrics = evaluate(args.k)
            print(f'epoch {epoch:03d} loss {loss:.4f} ' +
                  ' '.join(f'{k} {v:.4f}' for k, v in metrics.items()))
    return metrics


if __name__ == '__main__':
    main()
