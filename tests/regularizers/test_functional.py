import pytest
import torch

from rmbrec_pyg.regularizers import ORM, RRM, RegularizerInput
from rmbrec_pyg.regularizers import functional as R


def _inputs(user_emb, losses):
    n, b = user_emb.size(0), user_emb.size(1)
    return RegularizerInput(user_emb=user_emb, behavior_losses=losses,
                            score_diffs=torch.zeros(n, b),
                            mask=torch.ones(n, b, dtype=torch.bool),
                            target_index=b - 1,
                            behaviors=[f'b{k}' for k in range(b)])


def test_functional_terms_equal_the_modules():
    torch.manual_seed(0)
    emb = torch.randn(16, 3, 8, requires_grad=True)
    losses = torch.rand(3, requires_grad=True)
    inputs = _inputs(emb, losses)
    for variant in ('symmetric', 'paper'):
        assert torch.allclose(R.rrm(emb, variant=variant),
                              RRM(variant=variant)(inputs))
    assert torch.allclose(R.orm(losses), ORM()(inputs))
    assert torch.allclose(R.orm(losses, unbiased=False),
                          losses.var(unbiased=False))
    assert torch.allclose(R.orm(losses, include_target=False),
                          losses[:2].var())
    (R.rrm(emb) + R.orm(losses)).backward()
    assert emb.grad is not None and losses.grad is not None


def test_functional_terms_name_wrong_shapes():
    with pytest.raises(ValueError, match=r"'user_emb' must be \[N, B, F\]"):
        R.rrm(torch.randn(4, 8))
    with pytest.raises(ValueError, match=r"'behavior_losses' must be \[B\]"):
        R.orm(torch.rand(2, 3))
    with pytest.raises(ValueError, match='irm_v2'):
        R.orm(torch.rand(3), mode='irm_v2')
