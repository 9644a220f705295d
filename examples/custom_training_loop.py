r"""Example 1: the multi-behavior encoder under your own training loop.

No Hydra, no Trainer: a plain PyTorch loop with PyG's LightGCN-style BPR
loss (``torch_geometric.nn.models.lightgcn.BPRLoss``), full-ranking
evaluation from ``rmbrec_pyg.evaluation``.

    python examples/custom_training_loop.py --epochs 20
"""
import argparse

import torch
from torch_geometric.nn.models.lightgcn import BPRLoss

from rmbrec_pyg.data import SyntheticMultiBehaviorDataset, edge_index_dict_of
from rmbrec_pyg.evaluation import ExclusionIndex, evaluate
from rmbrec_pyg.graph import BehaviorSampler
from rmbrec_pyg.nn import MultiBehaviorEncoder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--users', type=int, default=1500)
    parser.add_argument('--items', type=int, default=800)
    args = parser.parse_args()
    torch.manual_seed(0)

    data = SyntheticMultiBehaviorDataset(num_users=args.users,
                                         num_items=args.items)[0]
    nu, ni = data['user'].num_nodes, data['item'].num_nodes
    edges = edge_index_dict_of(data)          # {'view': [2, E], ...}
    encoder = MultiBehaviorEncoder(nu, ni, data.behaviors, embedding_dim=32,
                                   num_layers=2)
    adj = encoder.build_adjacency(edges, nu, ni)  # normalised once
    sampler = BehaviorSampler(edges, nu, ni)
    loss_fn = BPRLoss(lambda_reg=1e-4)
    opt = torch.optim.Adam(encoder.parameters(), lr=5e-3)
    t = data.behaviors.index(data.target)

    for epoch in range(1, args.epochs + 1):
        for users in torch.randperm(nu).split(256):
            pos, neg, mask = sampler.sample(users)
            zu, zi = encoder.get_embedding(adj)  # fused [N, F]
            users, pos, neg = users[mask[:, t]], pos[mask[:, t], t], \
                neg[mask[:, t], t]
            pos_rank = (zu[users] * zi[pos]).sum(-1)
            neg_rank = (zu[users] * zi[neg]).sum(-1)
            ego = torch.cat([encoder.user_embedding(users),
                             encoder.item_embedding(pos),
                             encoder.item_embedding(neg)])
            loss = loss_fn(pos_rank, neg_rank, ego)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 5 == 0 or epoch == args.epochs:
            with torch.no_grad():
                zu, zi = encoder.get_embedding(adj)
            store = data['user', data.target, 'item']
            m = evaluate(zu, zi, store.val_edge_label_index,
                         ExclusionIndex(store.edge_index, nu))
            print(f"epoch {epoch}: loss {loss.item():.4f} "
                  f"valid HR@10 {m['HR@10']:.4f} NDCG@10 {m['NDCG@10']:.4f}")


if __name__ == '__main__':
    main()
