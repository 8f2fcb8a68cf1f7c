"""Tests for exercise 09: ALiBi, attention with linear biases.

Every expected value is computed here in float64 from the lesson's formulas, and the
attention output is compared with torch's scaled_dot_product_attention given the bias
and the causal mask as one additive mask.
"""

import pytest
import torch
from torch.nn import functional as F

from problem import alibi_attention, alibi_bias, alibi_slopes
from tutor.kit import assert_close, assert_rows_sum_to_one, assert_shape, closest_match

DOUBLE = torch.float64


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def slopes(n_head: int, first: int = 1) -> torch.Tensor:
    """2^(-8 h' / n_head) for h' = first .. first + n_head - 1; the lesson starts at 1."""
    head = torch.arange(first, first + n_head, dtype=DOUBLE)
    return 2.0 ** (-8.0 * head / n_head)


def signed(seq_len: int) -> torch.Tensor:
    """i - j for query i and key j: positive below the diagonal (keys in the past)."""
    position = torch.arange(seq_len, dtype=DOUBLE)
    return position[:, None] - position[None, :]


def bias(n_head: int, seq_len: int, slope: torch.Tensor | None = None) -> torch.Tensor:
    slope = slopes(n_head) if slope is None else slope
    return -slope[:, None, None] * signed(seq_len).abs()


def causal(seq_len: int) -> torch.Tensor:
    """0 where key j <= query i, -inf for the future keys."""
    future = torch.ones(seq_len, seq_len, dtype=torch.bool).triu(diagonal=1)
    return torch.zeros(seq_len, seq_len, dtype=DOUBLE).masked_fill(future, float("-inf"))


def bias_mistakes(n_head: int, seq_len: int) -> dict[str, torch.Tensor]:
    m = slopes(n_head)[:, None, None]
    return {
        "the sign is flipped: distance is rewarded instead of penalised": -bias(n_head, seq_len),
        "the distance keeps its sign (j - i) instead of |i - j|: above the diagonal the bias "
        "turns positive": -m * signed(seq_len),
        "the distance keeps its sign (i - j) without the minus: the bias rewards the past": m
        * signed(seq_len),
        "every head uses the same slope": bias(n_head, seq_len, slopes(n_head)[:1].expand(n_head)),
        "the slopes start at head h = 0 (slope 1) instead of h + 1": bias(
            n_head, seq_len, slopes(n_head, first=0)
        ),
    }


def reference(q, k, v, extra: torch.Tensor | None = None, masked: bool = True):
    """(out, weights) of causal ALiBi attention in float64; extra replaces the bias."""
    q, k, v = q.to(DOUBLE), k.to(DOUBLE), v.to(DOUBLE)
    n_head, seq_len = q.shape[-3], q.shape[-2]
    mask = bias(n_head, seq_len) if extra is None else extra
    if masked:
        mask = mask + causal(seq_len)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    return out, torch.softmax(scores + mask, dim=-1)


def attention_mistakes(q, k, v) -> dict[str, torch.Tensor]:
    n_head, seq_len, head_dim = q.shape[-3], q.shape[-2], q.shape[-1]
    right = bias(n_head, seq_len)
    scores = q.to(DOUBLE) @ k.to(DOUBLE).transpose(-2, -1) / head_dim**0.5
    after = torch.softmax(scores + causal(seq_len), dim=-1) + right
    mistakes = {
        why: reference(q, k, v, extra=wrong)[1]
        for why, wrong in bias_mistakes(n_head, seq_len).items()
    }
    mistakes.update(
        {
            "there is no causal mask: every query also sees the keys after it": reference(
                q, k, v, masked=False
            )[1],
            "the bias is added after the softmax instead of to the scores": after,
            "the bias is divided by sqrt(head_dim) together with the scores; add it after "
            "scaling": reference(q, k, v, extra=right / head_dim**0.5)[1],
            "there is no ALiBi bias at all": reference(q, k, v, extra=0 * right)[1],
        }
    )
    return mistakes


def check_attention(q, k, v) -> None:
    out, weights = alibi_attention(q, k, v)
    expected_out, expected_weights = reference(q, k, v)
    assert_shape(weights, tuple(expected_weights.shape), what="the attention weights")
    mistake = closest_match(weights, attention_mistakes(q, k, v))
    hint = (
        f"It matches what you get when {mistake}."
        if mistake
        else "Scale the scores by 1/sqrt(head_dim), add the bias, mask the future, softmax."
    )
    assert_close(weights, expected_weights, what="the attention weights", hint=hint)
    assert_close(out, expected_out, what="the attention output", hint=hint)


def test_slopes_for_eight_heads() -> None:
    got = alibi_slopes(8)
    expected = torch.tensor([2.0**-e for e in range(1, 9)], dtype=DOUBLE)
    wrong = {
        "every head uses the same slope": slopes(8)[:1].expand(8),
        "the slopes start at head h = 0 (slope 1) instead of h + 1": slopes(8, first=0),
    }
    mistake = closest_match(got, wrong) if isinstance(got, torch.Tensor) else None
    assert_close(
        got,
        expected,
        what="the slopes for 8 heads",
        hint=f"It matches what you get when {mistake}."
        if mistake
        else "For 8 heads the slopes are 1/2, 1/4, 1/8, ..., 1/256.",
    )


def test_slopes_for_other_head_counts() -> None:
    for n_head in (2, 4, 16):
        assert_close(
            alibi_slopes(n_head),
            slopes(n_head),
            what=f"the slopes for {n_head} heads",
            hint="Head h gets 2 ** (-8 * (h + 1) / n_head): the ratio depends on n_head, "
            "and the last head always gets 1/256.",
        )


def test_bias_matches_reference() -> None:
    got = alibi_bias(4, 6)
    assert_shape(got, (4, 6, 6), what="alibi_bias(4, 6)")
    mistake = closest_match(got, bias_mistakes(4, 6))
    assert_close(
        got,
        bias(4, 6),
        what="alibi_bias(4, 6) (head, query, key)",
        hint=f"It matches what you get when {mistake}."
        if mistake
        else "bias[h, i, j] should be -slope_h * |i - j|.",
    )


def test_bias_is_zero_on_the_diagonal_and_symmetric() -> None:
    got = alibi_bias(2, 5)
    assert_shape(got, (2, 5, 5), what="alibi_bias(2, 5)")
    assert_close(
        torch.diagonal(got, dim1=-2, dim2=-1),
        torch.zeros(2, 5, dtype=DOUBLE),
        what="the bias of each token for itself (the diagonal)",
        hint="A token is at distance 0 from itself, so it gets no penalty.",
    )
    values = got.detach().to(DOUBLE)
    uneven = (values - values.transpose(-2, -1)).abs() > 1e-6
    if bool(uneven.any()):
        h, i, j = (int(n) for n in uneven.nonzero()[0])
        pytest.fail(
            f"in head {h}, bias[{i}, {j}] is {values[h, i, j].item():.4g} but bias[{j}, {i}] "
            f"is {values[h, j, i].item():.4g}; the penalty depends on how far apart the two "
            "positions are, |i - j|, not on which one comes first"
        )
    assert bool((got.to(DOUBLE) <= 0).all()), (
        "some bias values are positive; ALiBi only ever subtracts from the scores, "
        "so every value should be 0 or negative"
    )


def test_attention_matches_reference() -> None:
    q, k, v = (inputs(2, 4, 6, 3, seed=s) for s in (1, 2, 3))
    check_attention(q, k, v)


def test_longer_sequence_with_eight_heads_matches_reference() -> None:
    q, k, v = (inputs(1, 8, 9, 4, seed=s) for s in (4, 5, 6))
    check_attention(q, k, v)


def test_weights_are_causal_and_sum_to_one() -> None:
    q, k, v = (inputs(2, 2, 5, 4, seed=s) for s in (7, 8, 9))
    _, weights = alibi_attention(q, k, v)
    assert_shape(weights, (2, 2, 5, 5), what="the attention weights")
    assert_rows_sum_to_one(weights)
    future = torch.ones(5, 5, dtype=torch.bool).triu(diagonal=1)
    leak = weights.detach().to(DOUBLE)[..., future].abs().max().item()
    assert leak < 1e-6, (
        f"a query gives weight {leak:.3g} to a key that comes after it; "
        "the future keys must get exactly 0 (mask them with -inf before the softmax)"
    )


def test_future_tokens_do_not_change_past_outputs() -> None:
    q, k, v = (inputs(1, 4, 6, 4, seed=s) for s in (10, 11, 12))
    out, _ = alibi_attention(q, k, v)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 4:] += 5.0
    v2[:, :, 4:] -= 3.0
    changed, _ = alibi_attention(q, k2, v2)
    assert_close(
        changed[:, :, :4],
        out[:, :, :4],
        what="the outputs of tokens 0-3 after changing the keys and values of tokens 4-5",
        hint="A token may only look at itself and the tokens before it: mask the future.",
    )


def test_equal_scores_favour_nearby_keys() -> None:
    # Zero queries give every key the same score: the bias alone decides the weights.
    q = torch.zeros(1, 4, 5, 2)
    k, v = inputs(1, 4, 5, 2, seed=13), inputs(1, 4, 5, 2, seed=14)
    _, weights = alibi_attention(q, k, v)
    expected = torch.softmax(bias(4, 5) + causal(5), dim=-1).unsqueeze(0)
    mistake = closest_match(weights, attention_mistakes(q, k, v))
    assert_close(
        weights,
        expected,
        what="the weights when all scores are equal",
        hint=f"It matches what you get when {mistake}."
        if mistake
        else "With equal scores the weights are the softmax of the bias over the visible "
        "keys, so nearer keys get more.",
    )


def test_steeper_heads_look_closer() -> None:
    # With equal scores, the weight a token keeps for itself grows with its head's slope.
    q = torch.zeros(1, 8, 6, 2)
    k, v = inputs(1, 8, 6, 2, seed=15), inputs(1, 8, 6, 2, seed=16)
    _, weights = alibi_attention(q, k, v)
    assert_shape(weights, (1, 8, 6, 6), what="the attention weights")
    own = weights.detach().to(DOUBLE)[0, :, 5, 5]
    for h in range(7):
        assert own[h] > own[h + 1] + 1e-6, (
            f"the last token keeps weight {own[h].item():.4f} for itself in head {h} and "
            f"{own[h + 1].item():.4f} in head {h + 1}; head {h} has the steeper slope, so it "
            "should be the more local one. Does every head use its own slope?"
        )


def test_single_token_returns_its_value() -> None:
    q, k, v = (inputs(3, 2, 1, 4, seed=s) for s in (17, 18, 19))
    out, weights = alibi_attention(q, k, v)
    assert_close(
        weights,
        torch.ones(3, 2, 1, 1, dtype=DOUBLE),
        what="the weights of a single token",
        hint="One token sees one key, at distance 0: its weight must be 1.",
    )
    assert_close(out, v.to(DOUBLE), what="the output of a single token")
