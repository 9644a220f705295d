r"""The torch profiler of a few training steps (paper settings, built by
hand so that older versions of the package run it too), for comparing two
versions of the code kernel by kernel.

    python benchmarks/profile_step.py --data ../shared/data/taobao-noview
"""
import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from rmbrec_pyg.data import MultiBehaviorDataset
from rmbrec_pyg.nn import MultiBehaviorEncoder
from rmbrec_pyg.regularizers import ORM, RRM
from rmbrec_pyg.train import Trainer, TrainerConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--rows', type=int, default=18)
    args = parser.parse_args()
    data = MultiBehaviorDataset(args.data)[0]
    enc = MultiBehaviorEncoder(data['user'].num_nodes, data['item'].num_nodes,
                               data.behaviors, 64, 3)
    tr = Trainer(data, enc, {'rrm': RRM(1.0), 'orm': ORM(1.0)},
                 TrainerConfig(progress=False))
    batches = tr.batches()

    def step(users: torch.Tensor) -> None:
        tr.optimizer.zero_grad(set_to_none=True)
        total, _ = tr.step(users)
        total.backward()
        tr.optimizer.step()

    for users in batches[:3]:  # warm-up
        step(users)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for users in batches[3:3 + args.steps]:
            step(users)
    print(prof.key_averages().table(sort_by='self_cpu_time_total',
                                    row_limit=args.rows))


if __name__ == '__main__':
    main()
