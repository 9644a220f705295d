import math

import pytest
import torch

from rmbrec_pyg.loss import behavior_losses, bpr_loss, embedding_l2


def test_bpr_values():
    pos = torch.tensor([2.0, 0.0, 1.0])
    neg = torch.tensor([0.0, 0.0, 3.0])
    per = -torch.nn.functional.logsigmoid(pos - neg)
    assert bpr_loss(pos, neg) == pytest.approx(per.mean().item())
    mask = torch.tensor([True, False, True])
    assert bpr_loss(pos, neg, mask, 'mask') == pytest.approx(
        (per[0] + per[2]).item() / 2)
    assert bpr_loss(pos, neg, mask, 'filler') == pytest.approx(
        (per[0] + math.log(2) + per[2]).item() / 3)


def test_behavior_losses_mask_vs_filler():
    diffs = torch.tensor([[1.0, -1.0], [2.0, 0.5]])
    mask = torch.tensor([[True, False], [True, True]])
    per = -torch.nn.functional.logsigmoid(diffs)
    masked = behavior_losses(diffs, mask, 'mask')
    assert masked[0] == pytest.approx(per[:, 0].mean().item())
    assert masked[1] == pytest.approx(per[1, 1].item())
    filler = behavior_losses(diffs, mask, 'filler')
    assert filler[1] == pytest.approx((math.log(2) + per[1, 1].item()) / 2)


def test_embedding_l2():
    a = torch.ones(4, 2)
    assert embedding_l2(a, 2 * a, batch_size=4) == pytest.approx(
        0.5 * (8 + 32) / 4)
