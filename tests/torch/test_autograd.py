"""Training: gradients (gradcheck in float64), gradient flow to the k kept inputs and the logits,
a short training run, and torch.compile(fullgraph=True) without graph breaks."""

import os

import pytest
import torch

from sortpool_torch import SortedWeightedPool2d


def _distinct(shape, gen):
    """float64 values that are pairwise at least 1/numel apart (no ties, so topk's choice is stable
    under gradcheck's finite-difference perturbations)."""
    n = 1
    for s in shape:
        n *= s
    return (torch.randperm(n, generator=gen).double() / n * 4 - 2).reshape(shape)


@pytest.mark.parametrize(
    "k,kernel,stride,padding,ceil_mode,per_channel,normalize",
    [
        (2, 2, 2, 0, False, False, True),
        (3, 3, 2, 1, True, True, True),
        (4, (2, 3), (1, 2), (1, 0, 0, 2), True, False, False),
        (9, 3, 1, 1, False, True, False),
        (1, 2, 1, 1, False, False, True),
    ],
)
def test_gradcheck(k, kernel, stride, padding, ceil_mode, per_channel, normalize):
    gen = torch.Generator().manual_seed(k)
    layer = SortedWeightedPool2d(k, kernel, stride, padding, ceil_mode, channels=2 if per_channel else None,
                                 normalize=normalize).double()
    with torch.no_grad():
        layer.logits.copy_(torch.randn(layer.logits.shape, generator=gen, dtype=torch.float64))
    x = _distinct((2, 2, 5, 6), gen).requires_grad_()
    logits = layer.logits.detach().clone().requires_grad_()

    def f(x, logits):
        return torch.func.functional_call(layer, {"logits": logits}, (x,))

    assert torch.autograd.gradcheck(f, (x, logits), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_gradients_reach_all_kept_inputs_and_logits(k, device):
    gen = torch.Generator().manual_seed(10 + k)
    layer = SortedWeightedPool2d(k, 2, 2, padding=1, channels=3, init="mean").to(device)  # windows hold 1..4 cells
    x = torch.randn(2, 3, 6, 5, generator=gen).to(device).requires_grad_()
    layer(x).sum().backward()
    # Non-overlapping windows (6x5 input, 2x2 kernel, stride 2, pad 1 -> 4x3 windows): each window's
    # kept ranks, min(k, real cells), get a gradient (weights are never 0 under softmax).
    nonzero = (x.grad != 0).cpu()
    for i in range(4):
        r = [h for h in (2 * i - 1, 2 * i) if 0 <= h < 6]
        for j in range(3):
            c = [w for w in (2 * j - 1, 2 * j) if 0 <= w < 5]
            got = nonzero[:, :, r][:, :, :, c].sum((-1, -2))
            assert torch.equal(got, torch.full((2, 3), min(k, len(r) * len(c)))), (i, j, got)
    assert layer.logits.grad is not None and torch.isfinite(layer.logits.grad).all()
    if k > 1:
        assert (layer.logits.grad != 0).all()


def test_logit_gradients_finite_with_padding_and_minus_inf_padding_ranks():
    """Ranks a window lacks (padded cells) must not poison the logits' gradient with NaN."""
    layer = SortedWeightedPool2d(4, 3, 3, padding=2, ceil_mode=True)
    x = torch.randn(1, 2, 4, 4, requires_grad=True)
    layer(x).sum().backward()
    assert torch.isfinite(layer.logits.grad).all() and torch.isfinite(x.grad).all()


def test_training_learns_target_weights():
    """A short Adam run recovers the weights of a target pooling from data."""
    torch.manual_seed(0)
    target = SortedWeightedPool2d(3, 2, normalize=False)
    with torch.no_grad():
        target.logits.copy_(torch.tensor([0.2, 0.5, 0.3]))
    layer = SortedWeightedPool2d(3, 2, init="max")
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    for _ in range(200):
        x = torch.randn(8, 4, 6, 6)
        loss = torch.nn.functional.mse_loss(layer(x), target(x).detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.testing.assert_close(layer.weights().detach(), torch.tensor([0.2, 0.5, 0.3]), atol=2e-2, rtol=0)


def _compile_check(backend):
    torch._dynamo.reset()
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1),
        SortedWeightedPool2d(3, 3, 2, padding=1, ceil_mode=True, channels=3),
        SortedWeightedPool2d(2, 2, normalize=False, init="mean"),
    )
    compiled = torch.compile(model, fullgraph=True, backend=backend, dynamic=True)
    for shape in [(2, 2, 9, 11), (3, 2, 12, 8)]:
        x = torch.randn(shape, requires_grad=True)
        grads = []
        for run in (compiled, model):
            model.zero_grad()
            x.grad = None
            y = run(x)
            (y * torch.linspace(-1, 2, y.numel()).reshape(y.shape)).sum().backward()
            grads.append([x.grad.clone()] + [p.grad.clone() for p in model.parameters()])
        torch.testing.assert_close(compiled(x), model(x))
        for got, want in zip(*grads):
            torch.testing.assert_close(got, want)


def test_torch_compile_fullgraph_no_graph_break():
    # fullgraph=True makes any graph break an error; aot_eager also traces the backward graph.
    _compile_check("aot_eager")


@pytest.mark.skipif(not os.environ.get("SORTPOOL_SLOW_TESTS"), reason="inductor compile takes ~2 min on 2 CPU cores; set SORTPOOL_SLOW_TESTS=1")
def test_torch_compile_inductor():
    _compile_check("inductor")
