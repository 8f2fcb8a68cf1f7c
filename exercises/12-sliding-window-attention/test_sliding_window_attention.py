"""Tests for exercise 12: sliding-window attention.

Convention: query i may attend to key j exactly when i - window < j <= i. Expected values
are computed here in float64, with masks built in this file and
torch.nn.functional.scaled_dot_product_attention as the reference.
"""

import pytest
import torch
from torch.nn import functional as F

from problem import sliding_window_attention, sliding_window_mask
from tutor.kit import assert_close, assert_rows_sum_to_one, assert_shape, closest_match


def qkv(*shape: int, seed: int = 0, d_v: int | None = None) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(*shape, generator=generator)
    k = torch.randn(*shape, generator=generator)
    v = torch.randn(*shape[:-1], d_v or shape[-1], generator=generator)
    return q, k, v


def positions(T: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(T).unsqueeze(1), torch.arange(T).unsqueeze(0)


def expected_mask(T: int, window: int) -> torch.Tensor:
    i, j = positions(T)
    return (j <= i) & (j > i - window)


def masked_softmax(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)


def known_weight_mistakes(q, k, window: int) -> dict[str, torch.Tensor]:
    """Attention weights that the classic wrong versions would produce."""
    T, d = q.shape[-2], q.shape[-1]
    i, j = positions(T)
    scores = q.double() @ k.double().transpose(-2, -1) / d**0.5
    right = expected_mask(T, window)
    return {
        "each query sees window + 1 keys: the window test is off by one (use j > i - window, "
        "not j >= i - window)": masked_softmax(scores, (j <= i) & (j >= i - window)),
        "the window reaches into the future: it should be one-sided, i - window < j <= i, "
        "not |i - j| < window": masked_softmax(scores, (i - j).abs() < window),
        "the mask is transposed: rows must be queries and columns keys, so query i looks "
        "back at keys j <= i": masked_softmax(scores, right.T),
        "the mask is applied after the softmax: the kept weights no longer sum to 1": torch.softmax(
            scores, dim=-1
        )
        * right,
        "the mask is inverted: -inf went to the positions inside the window instead of outside": (
            masked_softmax(scores, ~right)
        ),
        "the scores are not divided by sqrt(d)": masked_softmax(scores * d**0.5, right),
    }


def reference(q, k, v, window: int) -> torch.Tensor:
    mask = expected_mask(q.shape[-2], window)
    return F.scaled_dot_product_attention(q.double(), k.double(), v.double(), attn_mask=mask)


def diagnosis(actual: torch.Tensor, candidates: dict[str, torch.Tensor]) -> str:
    mistake = closest_match(actual, candidates)
    return f"It matches what you get when {mistake}." if mistake else ""


def run(q, k, v, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    result = sliding_window_attention(q, k, v, window)
    assert isinstance(result, tuple), "sliding_window_attention should return (output, weights)"
    assert len(result) == 2, "sliding_window_attention should return (output, weights)"
    return result


def test_mask_values_exactly() -> None:
    mask = sliding_window_mask(6, 3)
    assert_shape(mask, (6, 6), what="sliding_window_mask(6, 3)")
    assert mask.dtype == torch.bool, f"the mask should be a bool tensor, not {mask.dtype}"
    want = expected_mask(6, 3)
    wrong = (mask != want).nonzero()
    if len(wrong):
        i, j = (int(n) for n in wrong[0])
        should = "may" if want[i, j] else "may not"
        pytest.fail(
            f"sliding_window_mask(6, 3)[{i}, {j}] is {bool(mask[i, j])}: with window 3, query "
            f"{i} {should} attend to key {j} (allowed keys are i - 3 < j <= i, so query {i} "
            f"sees keys {max(0, i - 2)}..{i})"
        )


def test_mask_for_extreme_windows() -> None:
    one = sliding_window_mask(5, 1)
    assert_shape(one, (5, 5), what="sliding_window_mask(5, 1)")
    assert torch.equal(one, torch.eye(5, dtype=torch.bool)), (
        "with window 1 each query may attend only to itself: the mask should be the identity"
    )
    wide = sliding_window_mask(5, 9)
    assert_shape(wide, (5, 5), what="sliding_window_mask(5, 9)")
    assert torch.equal(wide, torch.ones(5, 5, dtype=torch.bool).tril()), (
        "a window of 9 covers all 5 positions: the mask should be the plain causal one, "
        "True on and below the diagonal"
    )


def test_weights_match_reference() -> None:
    q, k, v = qkv(2, 3, 7, 5, seed=1)
    _, weights = run(q, k, v, 3)
    want = masked_softmax(q.double() @ k.double().transpose(-2, -1) / 5**0.5, expected_mask(7, 3))
    assert_shape(weights, (2, 3, 7, 7), what="the attention weights")
    assert_close(
        weights,
        want,
        what="the attention weights",
        hint=diagnosis(weights, known_weight_mistakes(q, k, 3)),
    )


def test_output_matches_reference() -> None:
    q, k, v = qkv(2, 8, 4, seed=2, d_v=6)
    out, _ = run(q, k, v, 3)
    scores = q.double() @ k.double().transpose(-2, -1)
    outputs = {name: w @ v.double() for name, w in known_weight_mistakes(q, k, 3).items()}
    outputs["the mask is not applied at all"] = torch.softmax(scores / 2.0, dim=-1) @ v.double()
    assert_close(out, reference(q, k, v, 3), what="the output", hint=diagnosis(out, outputs))


def test_weights_are_zero_outside_the_window_and_rows_sum_to_one() -> None:
    q, k, v = qkv(1, 9, 4, seed=3)
    _, weights = run(q, k, v, 4)
    assert_shape(weights, (1, 9, 9), what="the attention weights")
    outside = ~expected_mask(9, 4)
    leaked = (weights[0].detach() != 0) & outside
    if bool(leaked.any()):
        i, j = (int(n) for n in leaked.nonzero()[0])
        where = "in the future" if j > i else "older than the window"
        pytest.fail(
            f"query {i} gives weight {weights[0, i, j].item():.4g} to key {j}, which is {where} "
            f"(window 4: query {i} may only see keys {max(0, i - 3)}..{i}); masked positions "
            "must get a weight of exactly 0: set their scores to -inf before the softmax"
        )
    assert_rows_sum_to_one(weights)


def test_window_covering_the_sequence_equals_causal_attention() -> None:
    q, k, v = qkv(2, 6, 3, seed=4)
    want = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=True)
    for window in (6, 10):
        out, _ = run(q, k, v, window)
        assert_close(
            out,
            want,
            what=f"the output with window {window} and T = 6",
            hint="A window at least as long as the sequence only hides the future: the "
            "result should equal plain causal attention.",
        )


def test_window_one_returns_the_values() -> None:
    q, k, v = qkv(2, 5, 4, seed=5, d_v=3)
    out, weights = run(q, k, v, 1)
    assert_close(
        weights,
        torch.eye(5).expand(2, 5, 5),
        what="the attention weights with window 1",
        hint="Each query may only see itself, so its single weight must be 1.",
    )
    assert_close(
        out, v, what="the output with window 1", hint="With window 1 the output is V itself."
    )


def test_tokens_older_than_the_window_are_ignored() -> None:
    # Change the key and value of position 1. With window 3, queries 4 and later cannot see
    # position 1 (4 - 3 < 1 is false), so their outputs must not move.
    q, k, v = qkv(2, 8, 4, seed=6)
    out, _ = run(q, k, v, 3)
    k2, v2 = k.clone(), v.clone()
    k2[:, 1] += 5.0
    v2[:, 1] -= 7.0
    changed, _ = run(q, k2, v2, 3)
    assert_close(
        changed[:, 4:],
        out[:, 4:],
        what="the outputs of queries 4..7 after changing token 1",
        hint="With window 3, query i only sees keys i-2..i; token 1 is outside the window of "
        "queries 4 and later, so changing it must not change their outputs.",
    )


def test_future_tokens_are_ignored() -> None:
    q, k, v = qkv(1, 7, 4, seed=7)
    out, _ = run(q, k, v, 3)
    q2, k2, v2 = q.clone(), k.clone(), v.clone()
    for t in (q2, k2, v2):
        t[:, 5:] = torch.randn(1, 2, 4, generator=torch.Generator().manual_seed(8))
    changed, _ = run(q2, k2, v2, 3)
    assert_close(
        changed[:, :5],
        out[:, :5],
        what="the outputs of queries 0..4 after changing tokens 5 and 6",
        hint="Sliding-window attention is causal: a query must never see keys after it.",
    )


def test_single_position() -> None:
    q, k, v = qkv(3, 1, 4, seed=9)
    out, weights = run(q, k, v, 2)
    assert_close(weights, torch.ones(3, 1, 1), what="the weights for a single position")
    assert_close(out, v, what="the output for a single position", hint="It should be V itself.")
