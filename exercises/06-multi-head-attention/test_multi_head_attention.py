"""Tests for exercise 06: multi-head self-attention.

Every expected value is computed here in float64 from the learner's own four nn.Linear
layers, with the heads split and merged explicitly, so the tests judge the learner's
forward pass, not a copy of it.
"""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from problem import MultiHeadAttention
from tutor.kit import assert_close, assert_rows_sum_to_one, assert_shape, closest_match

LAYERS = ("query", "key", "value", "proj")


def make(n_embd: int = 12, n_head: int = 3, seed: int = 0) -> MultiHeadAttention:
    torch.manual_seed(seed)
    return MultiHeadAttention(n_embd, n_head)


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def linear64(module: MultiHeadAttention, name: str, x: torch.Tensor) -> torch.Tensor:
    layer = getattr(module, name)
    return F.linear(x.double(), layer.weight.double(), layer.bias.double())


def reference(
    module: MultiHeadAttention,
    x: torch.Tensor,
    n_head: int,
    *,
    split_with_transpose: bool = True,
    scale_by: str = "head_dim",
    transpose_keys: bool = True,
    softmax_dim: int = -1,
    merge_with_transpose: bool = True,
    project: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head attention in float64; the keyword flags build the classic mistakes."""
    batch, length, channels = x.shape
    head_dim = channels // n_head

    def split(t: torch.Tensor) -> torch.Tensor:
        if split_with_transpose:
            return t.view(batch, length, n_head, head_dim).transpose(1, 2)
        return t.reshape(batch, n_head, length, head_dim)

    q, k, v = (split(linear64(module, name, x)) for name in ("query", "key", "value"))
    scale = {"head_dim": math.sqrt(head_dim), "n_embd": math.sqrt(channels), "none": 1.0}
    keys = k.transpose(-2, -1) if transpose_keys else k
    weights = torch.softmax(q @ keys / scale[scale_by], dim=softmax_dim)
    heads = weights @ v
    if merge_with_transpose:
        merged = heads.transpose(1, 2).reshape(batch, length, channels)
    else:
        merged = heads.reshape(batch, length, channels)
    out = linear64(module, "proj", merged) if project else merged
    return out, weights


def known_mistakes(
    module: MultiHeadAttention, x: torch.Tensor, n_head: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(output, weights) of the classic wrong versions of forward on ``x``."""
    mistakes = {
        "the heads are split with view(B, n_head, T, head_dim) directly: that cuts the "
        "sequence across tokens instead of cutting each token's features. Use "
        "view(B, T, n_head, head_dim) and then transpose(1, 2)": reference(
            module, x, n_head, split_with_transpose=False
        ),
        "the scores are divided by sqrt(n_embd); each head works in head_dim dimensions, "
        "so divide by sqrt(head_dim)": reference(module, x, n_head, scale_by="n_embd"),
        "the scores are not scaled at all; divide them by sqrt(head_dim)": reference(
            module, x, n_head, scale_by="none"
        ),
        "the softmax runs over the queries (dim=-2) instead of the keys (dim=-1)": reference(
            module, x, n_head, softmax_dim=-2
        ),
        "the heads are merged with view(B, T, C) while the head axis is still in front of "
        "the tokens; transpose(1, 2) back to (B, T, n_head, head_dim) first": reference(
            module, x, n_head, merge_with_transpose=False
        ),
        "the output projection self.proj is never applied to the merged heads": reference(
            module, x, n_head, project=False
        ),
    }
    if x.shape[1] == x.shape[2] // n_head:
        mistakes["the keys are not transposed: the scores are q @ k instead of q @ k^T"] = (
            reference(module, x, n_head, transpose_keys=False)
        )
    return mistakes


def run(module: MultiHeadAttention, x: torch.Tensor, n_head: int) -> tuple[torch.Tensor, ...]:
    """Call forward and check what comes back before any value is compared."""
    batch, length, channels = x.shape
    try:
        result = module(x)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        pytest.fail(
            f"forward raised an error for x of shape {(batch, length, channels)} with "
            f"n_head={n_head} (head_dim={channels // n_head}): {str(error).rstrip('.')}. "
            "Write the shape next to every line: q, k, v per head should be "
            "(B, n_head, T, head_dim) and the scores (B, n_head, T, T)"
        )
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail("forward should return a pair: (output, weights)")
    out, weights = result
    assert_shape(out, (batch, length, channels), what="the output")
    assert_shape(weights, (batch, n_head, length, length), what="the attention weights")
    return out, weights


def check_against_reference(module: MultiHeadAttention, x: torch.Tensor, n_head: int) -> None:
    with torch.no_grad():
        out, weights = run(module, x, n_head)
        expected_out, expected_weights = reference(module, x, n_head)
        mistakes = known_mistakes(module, x, n_head)
    mistake = closest_match(weights, {name: w for name, (_, w) in mistakes.items()})
    hint = f"They match what you get when {mistake}." if mistake else ""
    assert_close(weights, expected_weights, what="the attention weights", hint=hint)
    mistake = closest_match(out, {name: o for name, (o, _) in mistakes.items()})
    hint = f"It matches what you get when {mistake}." if mistake else ""
    assert_close(out, expected_out, what="the output", hint=hint)


def test_layers_are_linear_projections() -> None:
    module = make(n_embd=12, n_head=3)
    for name in LAYERS:
        layer = getattr(module, name, None)
        assert isinstance(layer, nn.Linear), f"self.{name} should be an nn.Linear"
        assert (layer.in_features, layer.out_features) == (12, 12), (
            f"self.{name} maps {layer.in_features} to {layer.out_features} features; every "
            "layer maps n_embd to n_embd (12 to 12 here): the heads share these layers"
        )
        assert layer.bias is not None, f"self.{name} should have a bias (the nn.Linear default)"


def test_rejects_n_embd_not_divisible_by_n_head() -> None:
    with pytest.raises((AssertionError, ValueError)):
        MultiHeadAttention(10, 3)


def test_output_and_weight_shapes() -> None:
    out, weights = run(make(n_embd=12, n_head=3), inputs(2, 5, 12), n_head=3)
    assert_shape(out, (2, 5, 12), what="the output for x of shape (2, 5, 12)")
    assert_shape(weights, (2, 3, 5, 5), what="the weights for 3 heads and 5 tokens")


def test_weights_sum_to_one_over_the_keys() -> None:
    module = make(n_embd=12, n_head=3)
    with torch.no_grad():
        _, weights = run(module, inputs(2, 5, 12, seed=2), n_head=3)
    assert_rows_sum_to_one(weights, what="the attention weights of every head")


def test_weights_match_reference() -> None:
    module = make(n_embd=12, n_head=3, seed=3)
    x = inputs(2, 5, 12, seed=4)
    with torch.no_grad():
        _, weights = run(module, x, n_head=3)
        mistakes = known_mistakes(module, x, n_head=3)
    mistake = closest_match(weights, {name: w for name, (_, w) in mistakes.items()})
    hint = f"They match what you get when {mistake}." if mistake else ""
    assert_close(weights, reference(module, x, 3)[1], what="the attention weights", hint=hint)


def test_output_matches_reference() -> None:
    check_against_reference(make(n_embd=12, n_head=3, seed=5), inputs(2, 5, 12, seed=6), 3)


def test_square_case_matches_reference() -> None:
    # T == head_dim: a missing transpose of k runs without a shape error here,
    # so only the values can reveal it.
    check_against_reference(make(n_embd=8, n_head=2, seed=7), inputs(3, 4, 8, seed=8), 2)


def test_many_heads_long_sequence_matches_reference() -> None:
    check_against_reference(make(n_embd=16, n_head=4, seed=9), inputs(2, 9, 16, seed=10), 4)


def test_one_head_is_scaled_attention_then_projection() -> None:
    # With a single head there is nothing to split: the module is scaled attention
    # over the full n_embd features followed by the output projection.
    module = make(n_embd=8, n_head=1, seed=11)
    x = inputs(2, 5, 8, seed=12)
    with torch.no_grad():
        out, _ = run(module, x, n_head=1)
        q, k, v = (linear64(module, name, x) for name in ("query", "key", "value"))
        attended = F.scaled_dot_product_attention(q, k, v)
        expected = linear64(module, "proj", attended)
    assert_close(
        out,
        expected,
        what="the output with n_head=1",
        hint="One head is scaled dot-product attention with head_dim = n_embd, "
        "then self.proj. Check the scaling and that the projection is applied.",
    )


def test_each_head_reads_only_its_own_features() -> None:
    # Change only the query rows that produce head 1's features. Heads 0 and 2
    # must not notice: each head sees only its own slice of q, k and v.
    module = make(n_embd=12, n_head=3, seed=13)
    x = inputs(2, 5, 12, seed=14)
    with torch.no_grad():
        _, before = run(module, x, n_head=3)
        module.query.weight[4:8] += 3 * inputs(4, 12, seed=15)
        _, after = run(module, x, n_head=3)
    for head in (0, 2):
        assert_close(
            after[:, head],
            before[:, head],
            what=f"the weights of head {head} after changing only head 1's query features",
            hint="Head h should use features h*head_dim to (h+1)*head_dim of every token. "
            "Split with view(B, T, n_head, head_dim) and then transpose(1, 2); a direct "
            "view(B, n_head, T, head_dim) mixes tokens and features between heads.",
        )


def test_permuting_tokens_permutes_outputs() -> None:
    # No positions here: shuffling the tokens only shuffles the outputs.
    module = make(n_embd=12, n_head=3, seed=16)
    x = inputs(1, 6, 12, seed=17)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        out, _ = run(module, x, n_head=3)
        shuffled, _ = run(module, x[:, order], n_head=3)
    assert_close(
        shuffled,
        out[:, order],
        what="the output for shuffled tokens",
        hint="Each token's output should depend on the set of tokens, not on where they "
        "sit. If it does not, the head split or merge is mixing tokens: check every view "
        "has a transpose with it.",
    )


def test_single_token_output_is_projected_value() -> None:
    # One token, one key: every head gives it weight 1, so the output is proj(value(x)).
    module = make(n_embd=12, n_head=3, seed=18)
    x = inputs(3, 1, 12, seed=19)
    with torch.no_grad():
        out, weights = run(module, x, n_head=3)
        expected = linear64(module, "proj", linear64(module, "value", x))
    assert_close(
        weights,
        torch.ones(3, 3, 1, 1),
        what="the weights for a single token",
        hint="With one key, its softmax weight is 1 in every head.",
    )
    assert_close(
        out,
        expected,
        what="the output for a single token",
        hint="With weight 1 each head copies its slice of v; merged, that is v itself, "
        "and the output should be self.proj applied to it.",
    )
