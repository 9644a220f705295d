r"""Example 2: add a regularizer of your own by config only.

``UserNormPenalty`` below is an ordinary ``Regularizer``; the trainer picks it
up from the ``regularizer`` config group by its ``_target_``, next to RRM and
ORM, without any change to the trainer:

    python examples/custom_regularizer.py

is the same as

    rmbrec-train '+regularizer.user_norm._target_=custom_regularizer.UserNormPenalty' \
        +regularizer.user_norm.weight=0.01

with this folder on PYTHONPATH.
"""
import os
import sys

import torch
from torch import Tensor

from rmbrec_pyg.regularizers import Regularizer, RegularizerInput


class UserNormPenalty(Regularizer):
    r"""Keeps the per-behavior user embeddings of the batch near unit
    norm: :math:`\mathrm{mean}((\|\mathbf{p}_u^{(b)}\| - 1)^2)`."""
    def forward(self, inputs: RegularizerInput) -> Tensor:
        return (inputs.user_emb.norm(dim=-1) - 1.0).pow(2).mean()


def main() -> None:
    from rmbrec_pyg.cli.compose import run
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    epochs = sys.argv[1] if len(sys.argv) > 1 else '10'
    out = os.path.join('outputs', 'examples', 'custom_regularizer')
    metrics = run([
        '+regularizer.user_norm._target_=custom_regularizer.UserNormPenalty',
        '+regularizer.user_norm.weight=0.01',
        f'trainer.max_epochs={epochs}', 'trainer.batch_size=256',
        'trainer.progress=false',
    ], out_dir=out)
    with open(os.path.join(out, 'metrics.csv')) as f:
        header = f.readline().strip().split(',')
    assert 'loss_user_norm' in header, header
    print('logged terms:', [h for h in header if h.startswith('loss_')])
    print('test:', metrics['test'])


if __name__ == '__main__':
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()
