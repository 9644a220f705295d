r"""Example 4: PyG's LightGCN training recipe, with the model swapped.

The loop below has the shape of PyG's own LightGCN example
(``examples/lightgcn.py`` of PyTorch Geometric): a homogeneous graph with
users first, BPR on sampled (user, positive, negative) edges through
``model(edge_index, edge_label_index)`` and ``model.recommendation_loss``,
then precision and recall at k over all items. Only the constructor
changes: ``--model rmbrec`` builds a
:class:`~rmbrec_pyg.nn.MultiBehaviorLightGCN` from the multi-behavior
``HeteroData``, which adds the auxiliary behaviors (view, cart) to the
purchase graph the loop passes around.

    python examples/pyg_lightgcn.py --model lightgcn
    python examples/pyg_lightgcn.py --model rmbrec
"""
import argparse
from typing import Dict

import torch
from torch_geometric.nn import LightGCN
from torch_geometric.utils import degree

from rmbrec_pyg.data import SyntheticMultiBehaviorDataset
from rmbrec_pyg.nn import MultiBehaviorLightGCN


def main(argv=None) -> Dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument('--model', choices=['lightgcn', 'rmbrec'],
                        default='rmbrec')
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--users', type=int, default=1000)
    parser.add_argument('--items', type=int, default=600)
    parser.add_argument('--k', type=int, default=20)
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    hetero = SyntheticMultiBehaviorDataset(num_users=args.users,
                                           num_items=args.items)[0]
    num_users, num_items = args.users, args.items
    buy = hetero['user', 'buy', 'item']
    # The homogeneous graph of PyG's recipe: users 0..U-1, items U..U+I-1.
    train_edge_label_index = torch.stack([buy.edge_index[0],
                                          buy.edge_index[1] + num_users])
    edge_index = torch.cat([train_edge_label_index,
                            train_edge_label_index.flip(0)], dim=1)
    test_edge_label_index = torch.stack([buy.test_edge_label_index[0],
                                         buy.test_edge_label_index[1] +
                                         num_users])

    if args.model == 'lightgcn':
        model = LightGCN(num_nodes=num_users + num_items, embedding_dim=64,
                         num_layers=2)
    else:  # the only line that changes
        model = MultiBehaviorLightGCN(hetero, embedding_dim=64, num_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = torch.utils.data.DataLoader(
        range(train_edge_label_index.size(1)), shuffle=True, batch_size=2048)

    def train() -> float:
        total_loss = total_examples = 0
        for index in loader:
            pos = train_edge_label_index[:, index]
            neg = torch.stack([pos[0], torch.randint(
                num_users, num_users + num_items, (index.numel(), ))])
            edge_label_index = torch.cat([pos, neg], dim=1)
            optimizer.zero_grad()
            pos_rank, neg_rank = model(edge_index, edge_label_index).chunk(2)
            loss = model.recommendation_loss(
                pos_rank, neg_rank, node_id=edge_label_index.unique())
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * pos_rank.numel()
            total_examples += pos_rank.numel()
        return total_loss / total_examples

    @torch.no_grad()
    def test(k: int) -> Dict[str, float]:
        emb = model.get_embedding(edge_index)
        user_emb, item_emb = emb[:num_users], emb[num_users:]
        logits = user_emb @ item_emb.t()
        # The training purchases are not recommended again.
        logits[train_edge_label_index[0],
               train_edge_label_index[1] - num_users] = float('-inf')
        truth = torch.zeros_like(logits, dtype=torch.bool)
        truth[test_edge_label_index[0],
              test_edge_label_index[1] - num_users] = True
        count = degree(test_edge_label_index[0], num_nodes=num_users)
        hits = truth.gather(1, logits.topk(k, dim=-1).indices).sum(-1)
        users = count > 0
        return {f'precision@{k}': float((hits / k)[users].mean()),
                f'recall@{k}': float((hits / count.clamp(min=1))[users]
                                     .mean())}

    for epoch in range(1, args.epochs + 1):
        loss = train()
        if epoch % 10 == 0 or epoch == args.epochs:
            metrics = test(args.k)
            print(f'{args.model} epoch {epoch:03d} loss {loss:.4f} ' +
                  ' '.join(f'{k} {v:.4f}' for k, v in metrics.items()))
    return metrics


if __name__ == '__main__':
    main()
