"""Tests for exercise 02: single-head self-attention without scaling.

Every expected value is computed here in float64 from the learner's own layers, so
the tests judge the learner's forward pass, not a copy of it.
"""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from problem import SimpleAttention
from tutor.kit import assert_close, assert_shape, closest_match


def make(n_embd: int = 16, seed: int = 0) -> SimpleAttention:
    torch.manual_seed(seed)
    return SimpleAttention(n_embd)


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def projections(module: SimpleAttention, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x64 = x.double()
    return tuple(
        F.linear(x64, layer.weight.double(), layer.bias.double())
        for layer in (module.query, module.key, module.value)
    )


def reference(module: SimpleAttention, x: torch.Tensor) -> torch.Tensor:
    q, k, v = projections(module, x)
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v


def known_mistakes(module: SimpleAttention, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the classic wrong versions of forward would return on ``x``."""
    q, k, v = projections(module, x)
    scores = q @ k.transpose(-2, -1)
    mistakes = {
        "the softmax runs over the queries (dim=-2) instead of the keys (dim=-1)": torch.softmax(
            scores, dim=-2
        )
        @ v,
        "the softmax runs over the batch (dim=0) instead of the keys (dim=-1)": torch.softmax(
            scores, dim=0
        )
        @ v,
        "there is no softmax: the raw scores are used as weights": scores @ v,
        "the scores are K Q^T instead of Q K^T: queries and keys swapped roles": torch.softmax(
            k @ q.transpose(-2, -1), dim=-1
        )
        @ v,
        "the scores are divided by sqrt(C): scaling is the next exercise, leave it out here": (
            torch.softmax(scores / q.shape[-1] ** 0.5, dim=-1) @ v
        ),
        "the weights multiply the input x instead of the values V": torch.softmax(scores, dim=-1)
        @ x.double(),
    }
    if q.shape[-1] == k.shape[-2]:
        mistakes["K is not transposed: the scores are Q K instead of Q K^T"] = (
            torch.softmax(q @ k, dim=-1) @ v
        )
    return mistakes


def check_against_reference(module: SimpleAttention, x: torch.Tensor) -> None:
    with torch.no_grad():
        out = module(x)
        expected = reference(module, x)
        assert_shape(out, tuple(x.shape), what="the output")
        mistake = closest_match(out, known_mistakes(module, x))
    hint = f"It matches what you get when {mistake}." if mistake else ""
    assert_close(out, expected, what="the output", hint=hint)


def test_layers_are_linear_projections() -> None:
    module = make(n_embd=12)
    for name in ("query", "key", "value"):
        layer = getattr(module, name, None)
        assert isinstance(layer, nn.Linear), f"self.{name} should be an nn.Linear"
        assert (layer.in_features, layer.out_features) == (12, 12), (
            f"self.{name} maps {layer.in_features} to {layer.out_features} features; "
            "it should map n_embd to n_embd (12 to 12 here)"
        )
        assert layer.bias is not None, f"self.{name} should have a bias (the nn.Linear default)"


def test_default_embedding_size_is_768() -> None:
    torch.manual_seed(0)
    module = SimpleAttention()
    assert module.query.in_features == 768, "SimpleAttention() should default to n_embd=768"


def test_output_shape() -> None:
    module = make(n_embd=16)
    with torch.no_grad():
        out = module(inputs(2, 5, 16))
    assert_shape(out, (2, 5, 16), what="the output for an input of shape (2, 5, 16)")


def test_single_token_attends_to_itself() -> None:
    # With one token there is one key, so its weight must be exactly 1
    # and the output is that token's value vector.
    module = make(n_embd=16)
    x = inputs(3, 1, 16)
    with torch.no_grad():
        out = module(x)
        value = module.value(x)
    assert_close(
        out,
        value,
        what="the output for a single token",
        hint="With one key its softmax weight is 1, so the output should be V itself.",
    )


def test_weights_sum_to_one_over_the_keys() -> None:
    # Make every value vector the same vector u. If each query's weights sum to 1
    # over the keys, every output row is exactly u; otherwise row i is (sum of row i) * u.
    module = make(n_embd=8)
    with torch.no_grad():
        module.value.weight.zero_()
        module.value.bias.fill_(1.0)
        out = module(inputs(2, 6, 8, seed=3))
    if out.shape != (2, 6, 8):
        pytest.fail(f"the output has shape {tuple(out.shape)}, expected (2, 6, 8)")
    row_sums = out.detach().double()[..., 0]
    off = (row_sums - 1.0).abs() > 1e-4
    if bool(off.any()):
        b, i = (int(n) for n in off.nonzero()[0])
        pytest.fail(
            f"row {i} of the attention weights (batch item {b}) sums to "
            f"{row_sums[b, i].item():.4g} over the keys; softmax should normalise "
            "over the last dimension (the keys) so every row sums to 1"
        )


def test_matches_reference() -> None:
    check_against_reference(make(n_embd=16), inputs(2, 5, 16))


def test_square_case_matches_reference() -> None:
    # T == C: a missing transpose of K runs without a shape error here,
    # so only the values can reveal it.
    check_against_reference(make(n_embd=8), inputs(2, 8, 8, seed=4))


def test_long_sequence_matches_reference() -> None:
    check_against_reference(make(n_embd=12, seed=5), inputs(1, 20, 12, seed=6))


def test_batch_items_are_independent() -> None:
    module = make(n_embd=16)
    x = inputs(3, 4, 16, seed=7)
    with torch.no_grad():
        together = module(x)
        alone = module(x[1:2])
    assert_close(
        together[1:2],
        alone,
        what="batch item 1 computed with the others",
        hint="Each example in a batch must attend only within itself.",
    )


def test_permuting_tokens_permutes_outputs() -> None:
    # Attention has no notion of position: shuffle the tokens and the outputs shuffle the same way.
    module = make(n_embd=16)
    x = inputs(1, 6, 16, seed=8)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        out = module(x)
        shuffled = module(x[:, order])
    assert_close(
        shuffled,
        out[:, order],
        what="the output for shuffled tokens",
        hint="Without positions, reordering the tokens should only reorder the outputs.",
    )
