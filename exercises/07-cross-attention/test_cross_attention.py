"""Tests for exercise 07: single-head cross-attention.

Every expected value is computed here in float64 from the learner's own four nn.Linear
layers, so the tests judge the learner's forward pass, not a copy of it. Most tests use
different lengths and feature sizes for x and the context; a few use equal sizes on
purpose, because there a wrong wiring (keys from x, say) runs without a shape error and
only the values can reveal it.
"""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from problem import CrossAttention
from tutor.kit import assert_close, assert_rows_sum_to_one, assert_shape, closest_match


def make(d_model: int = 8, d_context: int = 6, d_head: int = 4, seed: int = 0) -> CrossAttention:
    torch.manual_seed(seed)
    return CrossAttention(d_model, d_context, d_head)


def inputs(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def linear64(module: CrossAttention, name: str, t: torch.Tensor) -> torch.Tensor:
    layer = getattr(module, name)
    return F.linear(t.double(), layer.weight.double(), layer.bias.double())


def check_layers(module: CrossAttention, d_model: int, d_context: int, d_head: int) -> None:
    expected = {
        "query": (d_model, d_head, "queries are made from x, so it reads d_model"),
        "key": (d_context, d_head, "keys are made from the context, so it reads d_context"),
        "value": (d_context, d_head, "values are made from the context, so it reads d_context"),
        "proj": (d_head, d_model, "the output goes back to x's size, d_head to d_model"),
    }
    for name, (n_in, n_out, why) in expected.items():
        layer = getattr(module, name, None)
        assert isinstance(layer, nn.Linear), f"self.{name} should be an nn.Linear"
        assert (layer.in_features, layer.out_features) == (n_in, n_out), (
            f"self.{name} maps {layer.in_features} to {layer.out_features} features; with "
            f"d_model={d_model}, d_context={d_context}, d_head={d_head} it should map "
            f"{n_in} to {n_out}: {why}"
        )
        assert layer.bias is not None, f"self.{name} should have a bias (the nn.Linear default)"


def run(
    module: CrossAttention, x: torch.Tensor, context: torch.Tensor, d_head: int = 4
) -> tuple[torch.Tensor, ...]:
    """Check the layers, call forward, and check what comes back (every test uses d_head=4)."""
    (batch, t_q, d_model), (_, t_k, d_context) = x.shape, context.shape
    check_layers(module, d_model, d_context, d_head)
    shapes = f"x {tuple(x.shape)} and context {tuple(context.shape)}"
    try:
        result = module(x, context)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        pytest.fail(
            f"forward raised an error for {shapes}: {str(error).rstrip('.')}. The queries "
            "must come from x, the keys and values from the context; write the shape "
            "next to every line"
        )
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail("forward should return a pair: (output, weights)")
    out, weights = result
    assert_shape(weights, (batch, t_q, t_k), what=f"the attention weights for {shapes}")
    assert_shape(out, (batch, t_q, d_model), what=f"the output for {shapes}")
    return out, weights


def reference(
    module: CrossAttention,
    x: torch.Tensor,
    context: torch.Tensor,
    *,
    q_from: str = "x",
    k_from: str = "context",
    v_from: str = "context",
    scale_by: str = "d_head",
    softmax_dim: int = -1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-attention in float64; the keyword flags build the classic mistakes."""
    sources = {"x": x, "context": context}
    q = linear64(module, "query", sources[q_from])
    k = linear64(module, "key", sources[k_from])
    v = linear64(module, "value", sources[v_from])
    d_head = module.query.out_features
    scale = {"d_head": math.sqrt(d_head), "d_model": math.sqrt(x.shape[-1]), "none": 1.0}
    weights = torch.softmax(q @ k.transpose(-2, -1) / scale[scale_by], dim=softmax_dim)
    return linear64(module, "proj", weights @ v), weights


def known_mistakes(
    module: CrossAttention, x: torch.Tensor, context: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(output, weights) of the classic wrong versions of forward, where they can run."""
    mistakes = {
        "the softmax runs over the queries (dim=-2) instead of the context tokens (dim=-1)": (
            reference(module, x, context, softmax_dim=-2)
        ),
        "the scores are not divided by sqrt(d_head)": reference(
            module, x, context, scale_by="none"
        ),
        "the scores are divided by sqrt(d_model); the dot products live in d_head dimensions, "
        "so divide by sqrt(d_head)": reference(module, x, context, scale_by="d_model"),
    }
    same_size = x.shape == context.shape
    if same_size:
        mistakes["the keys are computed from x instead of the context"] = reference(
            module, x, context, k_from="x"
        )
        mistakes["the values are computed from x instead of the context"] = reference(
            module, x, context, v_from="x"
        )
        mistakes["the queries are computed from the context instead of x"] = reference(
            module, x, context, q_from="context"
        )
    return mistakes


def check_against_reference(module: CrossAttention, x: torch.Tensor, context: torch.Tensor) -> None:
    with torch.no_grad():
        out, weights = run(module, x, context)
        expected_out, expected_weights = reference(module, x, context)
        mistakes = known_mistakes(module, x, context)
    mistake = closest_match(weights, {name: w for name, (_, w) in mistakes.items()})
    hint = f"They match what you get when {mistake}." if mistake else ""
    assert_close(weights, expected_weights, what="the attention weights", hint=hint)
    mistake = closest_match(out, {name: o for name, (o, _) in mistakes.items()})
    hint = f"It matches what you get when {mistake}." if mistake else ""
    assert_close(out, expected_out, what="the output", hint=hint)


def test_layers_have_the_right_sizes() -> None:
    check_layers(make(d_model=8, d_context=6, d_head=4), d_model=8, d_context=6, d_head=4)


def test_output_and_weight_shapes() -> None:
    out, weights = run(make(), inputs(2, 3, 8, seed=1), inputs(2, 5, 6, seed=2))
    assert_shape(out, (2, 3, 8), what="the output for x (2, 3, 8): one d_model vector per query")
    assert_shape(weights, (2, 3, 5), what="the weights: 3 queries against 5 context tokens")


def test_weights_sum_to_one_over_the_context() -> None:
    with torch.no_grad():
        _, weights = run(make(seed=3), inputs(2, 4, 8, seed=4), inputs(2, 6, 6, seed=5))
    assert_rows_sum_to_one(weights, what="the attention weights")


def test_matches_reference() -> None:
    check_against_reference(make(seed=6), inputs(2, 3, 8, seed=7), inputs(2, 5, 6, seed=8))


def test_single_query_matches_reference() -> None:
    # Tq = 1: a softmax over the query axis turns every weight into 1 here.
    check_against_reference(make(seed=9), inputs(3, 1, 8, seed=10), inputs(3, 7, 6, seed=11))


def test_same_sizes_matches_reference() -> None:
    # x and the context have the same length and feature size, so keys, values or
    # queries taken from the wrong sequence run without a shape error.
    module = make(d_model=6, d_context=6, d_head=4, seed=12)
    check_against_reference(module, inputs(2, 5, 6, seed=13), inputs(2, 5, 6, seed=14))


def test_permuting_context_permutes_weights_not_output() -> None:
    # The context is a set to look things up in: shuffling its tokens shuffles the
    # columns of the weights and leaves every output exactly as it was.
    module = make(d_model=6, d_context=6, d_head=4, seed=15)
    x, context = inputs(2, 5, 6, seed=16), inputs(2, 5, 6, seed=17)
    order = torch.tensor([2, 4, 0, 3, 1])
    with torch.no_grad():
        out, weights = run(module, x, context)
        out2, weights2 = run(module, x, context[:, order])
    assert_close(
        weights2,
        weights[:, :, order],
        what="the weights for the shuffled context",
        hint="Each column belongs to one context token, so shuffling the context should "
        "shuffle the columns the same way. The keys must come from the context.",
    )
    assert_close(
        out2,
        out,
        what="the output for the shuffled context",
        hint="Shuffling the context changes nothing for the queries: each still finds the "
        "same keys and the same values. The queries come from x; the keys and values from "
        "the context.",
    )


def test_permuting_queries_permutes_outputs() -> None:
    module = make(seed=18)
    x, context = inputs(1, 6, 8, seed=19), inputs(1, 4, 6, seed=20)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        out, _ = run(module, x, context)
        shuffled, _ = run(module, x[:, order], context)
    assert_close(
        shuffled,
        out[:, order],
        what="the output for shuffled tokens of x",
        hint="Each query is answered on its own: reordering the tokens of x should only "
        "reorder the outputs.",
    )


def test_each_query_reads_only_the_context() -> None:
    # Query 0's output may depend on x[0] and on the context, never on the other
    # tokens of x.
    module = make(d_model=6, d_context=6, d_head=4, seed=21)
    x, context = inputs(2, 5, 6, seed=22), inputs(2, 5, 6, seed=23)
    x2 = x.clone()
    x2[:, 1:] = 5 * inputs(2, 4, 6, seed=24)
    with torch.no_grad():
        out, _ = run(module, x, context)
        out2, _ = run(module, x2, context)
    assert_close(
        out2[:, 0],
        out[:, 0],
        what="the output of query 0 after changing the other tokens of x",
        hint="Query 0 should only compare its own query with the context's keys and read "
        "the context's values. If the other tokens of x matter, the keys or values are "
        "being made from x.",
    )


def test_single_context_token_copies_its_value() -> None:
    # One context token: every query gives it weight 1 and reads proj(value(context)).
    module = make(seed=25)
    x, context = inputs(2, 3, 8, seed=26), inputs(2, 1, 6, seed=27)
    with torch.no_grad():
        out, weights = run(module, x, context)
        expected = linear64(module, "proj", linear64(module, "value", context)).expand(2, 3, 8)
    assert_close(
        weights,
        torch.ones(2, 3, 1),
        what="the weights with a single context token",
        hint="With one key, each query's softmax over the context gives it weight 1.",
    )
    assert_close(
        out,
        expected,
        what="the output with a single context token",
        hint="Every query should read that token's value, passed through self.proj.",
    )
