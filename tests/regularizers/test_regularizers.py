
import pytest
import torch
import torch.nn.functional as F

from rmbrec_pyg.regularizers import ORM, RRM, Regularizer, RegularizerInput


def _inputs(n=6, b=3, f=4, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    user = torch.randn(n, b, f, generator=g, requires_grad=True)
    diffs = torch.randn(n, b, generator=g)
    mask = torch.rand(n, b, generator=g) > 0.2
    losses = -F.logsigmoid(diffs).mean(0)
    args = dict(user_emb=user, behavior_losses=losses, score_diffs=diffs,
                mask=mask, target_index=b - 1,
                behaviors=[f'b{i}' for i in range(b)])
    args.update(kw)
    return RegularizerInput(**args)


def _naive_paper(aux, anchor, tau):
    n = aux.size(0)
    total = 0.0
    for u in range(n):
        pos = F.cosine_similarity(aux[u], anchor[u], dim=0) / tau
        terms = [pos] + [F.cosine_similarity(aux[u], aux[v], dim=0) / tau
                         for v in range(n) if v != u]
        total += -(pos - torch.logsumexp(torch.stack(terms), 0))
    return total / n


def test_rrm_paper_matches_naive():
    inp = _inputs()
    rrm = RRM(temperature=0.5, variant='paper', aux_reduction='mean')
    expected = torch.stack([
        _naive_paper(inp.user_emb[:, b], inp.user_emb[:, 2], 0.5)
        for b in (0, 1)]).mean()
    assert rrm(inp).item() == pytest.approx(expected.item(), rel=1e-5)


def test_rrm_symmetric_matches_formula():
    inp = _inputs()
    rrm = RRM(temperature=0.07, variant='symmetric', aux_reduction='sum')
    total = 0.0
    t = F.normalize(inp.user_emb[:, 2], dim=-1)
    labels = torch.arange(6)
    for b in (0, 1):
        a = F.normalize(inp.user_emb[:, b], dim=-1)
        logits = t @ a.t() / 0.07
        total += 0.5 * (F.cross_entropy(logits, labels) +
                        F.cross_entropy(logits.t(), labels))
    assert rrm(inp).item() == pytest.approx(total.item(), rel=1e-5)


def test_rrm_prefers_aligned_views():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(32, 1, 8, generator=g)
    aligned = base.repeat(1, 2, 1) + 0.01 * torch.randn(32, 2, 8, generator=g)
    random = torch.randn(32, 2, 8, generator=g)
    for variant in ('paper', 'symmetric'):
        rrm = RRM(variant=variant)
        lo = rrm(_inputs(user_emb=aligned, target_index=1,
                         behaviors=['a', 't']))
        hi = rrm(_inputs(user_emb=random, target_index=1,
                         behaviors=['a', 't']))
        assert lo < hi


def test_rex_variants():
    losses = torch.tensor([0.2, 0.5, 0.8])
    inp = _inputs(behavior_losses=losses)
    assert ORM(mode='rex')(inp).item() == pytest.approx(0.09)
    assert ORM(mode='rex', unbiased=False)(inp).item() == pytest.approx(0.06)
    aux_only = ORM(mode='rex', include_target=False)(inp)
    assert aux_only.item() == pytest.approx(0.045)


def test_irm_v1_closed_form_matches_autograd():
    inp = _inputs()
    orm = ORM(mode='irm_v1')
    expected = 0.0
    for b in range(3):
        w = torch.tensor(1.0, requires_grad=True)
        d, m = inp.score_diffs[:, b], inp.mask[:, b].float()
        risk = (-F.logsigmoid(w * d) * m).sum() / m.sum()
        (g, ) = torch.autograd.grad(risk, w)
        expected += g.item() ** 2
    assert orm(inp).item() == pytest.approx(expected, rel=1e-5)
    loss_mode = ORM(mode='irm_v1', dummy='loss')(inp)
    assert loss_mode.item() == pytest.approx(
        inp.behavior_losses.pow(2).sum().item(), rel=1e-6)


def test_irm_v2_gradient_variance():
    table = torch.randn(5, 3, requires_grad=True)
    losses = torch.stack([table.sum(), (2 * table).sum()])
    inp = _inputs(b=2, behavior_losses=losses, params=[table])
    val = ORM(mode='irm_v2')(inp)
    # gradients are all-ones and all-twos: variance 0.5 everywhere
    assert val.item() == pytest.approx(0.5)
    assert ORM(mode='irm_v2').needs_double_backward
    with pytest.raises(ValueError, match='needs the base embedding'):
        ORM(mode='irm_v2')(_inputs(b=2, behavior_losses=losses))


def test_errors():
    with pytest.raises(ValueError, match="'mode' must be one of"):
        ORM(mode='dro')
    with pytest.raises(ValueError, match="'variant' must be one of"):
        RRM(variant='x')
    with pytest.raises(ValueError, match="'weight' must be >= 0 in 'RRM'"):
        RRM(weight=-1)
    with pytest.raises(ValueError, match="'temperature' must be positive"):
        RRM(temperature=0)


def test_custom_regularizer_and_repr():
    class MeanNorm(Regularizer):
        def forward(self, inputs):
            return inputs.user_emb.norm(dim=-1).mean()

    r = MeanNorm(weight=0.5)
    assert r(_inputs()).item() > 0 and r.weight == 0.5
    assert 'weight=0.5' in repr(r)
    assert "variant='symmetric'" in repr(RRM())


def test_uniform_behavior_weights_change_nothing():
    base = _inputs()
    uni = _inputs(behavior_weights=torch.full((3, ), 1 / 3))
    for term in (RRM(), RRM(variant='paper', aux_reduction='mean'),
                 ORM(mode='rex'), ORM(mode='rex', unbiased=False),
                 ORM(mode='irm_v1'), ORM(mode='irm_v1', dummy='loss')):
        assert term(uni).item() == pytest.approx(term(base).item(),
                                                 rel=1e-5)
    # a behavior with (almost) zero weight drops out of the terms
    w = torch.tensor([1e-9, 0.5, 0.5])
    skew = _inputs(behavior_weights=w)
    losses = skew.behavior_losses
    expected = losses[1:].var(unbiased=True)
    assert ORM(mode='rex')(skew).item() == pytest.approx(expected.item(),
                                                         rel=1e-4)


@pytest.mark.parametrize('variant', ['symmetric', 'paper'])
def test_rrm_with_a_mask_equals_the_subset(variant):
    # Static shapes (CUDA graphs): all rows and a mask give the loss of the
    # masked rows alone, and the same gradient.
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(12, 3, 8, generator=g, requires_grad=True)
    mask = torch.tensor([True, False, True, True, False, True, True, True,
                         False, True, True, False])
    rrm = RRM(variant=variant)
    base = dict(behavior_losses=torch.zeros(3), score_diffs=torch.zeros(12, 3),
                mask=torch.ones(12, 3, dtype=torch.bool), target_index=2,
                behaviors=['view', 'cart', 'buy'])
    sub = rrm(RegularizerInput(user_emb=emb[mask], **base))
    (g_sub, ) = torch.autograd.grad(sub, emb)
    full = rrm(RegularizerInput(user_emb=emb, user_mask=mask, **base))
    (g_full, ) = torch.autograd.grad(full, emb)
    assert torch.allclose(sub, full, atol=1e-6)
    assert torch.allclose(g_sub, g_full, atol=1e-6)
    none = rrm(RegularizerInput(user_emb=emb, user_mask=torch.zeros(
        12, dtype=torch.bool), **base))
    assert torch.isfinite(none) and none.detach().item() == 0.0
