"""Tests for exercise 03: scaled dot-product attention, returning (output, weights).

Expected values come from torch.nn.functional.scaled_dot_product_attention in float64, or
from the formula written out here in float64; the learner's function is never reused.
"""

import math

import pytest
import torch
from torch.nn import functional as F

from problem import scaled_dot_product_attention
from tutor.kit import assert_close, assert_rows_sum_to_one, assert_shape, closest_match


def inputs(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def qkv(
    *lead: int, tq: int, tk: int, d_k: int, d_v: int, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    return (
        inputs(*lead, tq, d_k, seed=seed),
        inputs(*lead, tk, d_k, seed=seed + 1),
        inputs(*lead, tk, d_v, seed=seed + 2),
    )


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Call the learner's function and check it returns a pair of tensors."""
    try:
        result = scaled_dot_product_attention(q, k, v)
    except NotImplementedError:
        raise
    except (RuntimeError, IndexError, TypeError, ValueError) as error:
        pytest.fail(
            f"scaled_dot_product_attention raised {type(error).__name__} for q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}: {error}"
        )
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail("scaled_dot_product_attention should return a pair: (output, weights)")
    return result


def reference_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return torch.softmax(q.double() @ k.double().mT / math.sqrt(q.shape[-1]), dim=-1)


def mistaken_weights(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> dict[str, torch.Tensor]:
    """The weights that the classic wrong versions would return."""
    scores = q.double() @ k.double().mT
    d_k, d_v, t_k = q.shape[-1], v.shape[-1], k.shape[-2]
    return {
        "the scores are not scaled at all": torch.softmax(scores, dim=-1),
        "the scores are divided by d_k instead of sqrt(d_k)": torch.softmax(scores / d_k, dim=-1),
        "the scores are divided by sqrt(d_v), the value size, instead of sqrt(d_k)": torch.softmax(
            scores / math.sqrt(d_v), dim=-1
        ),
        "the scores are divided by the square root of the number of keys, not of d_k": (
            torch.softmax(scores / math.sqrt(t_k), dim=-1)
        ),
        "the weights are divided by sqrt(d_k) after the softmax instead of the scores before it": (
            torch.softmax(scores, dim=-1) / math.sqrt(d_k)
        ),
        "the softmax runs over the queries (dim=-2) instead of the keys (dim=-1)": torch.softmax(
            scores / math.sqrt(d_k), dim=-2
        ),
        "the raw scaled scores are returned as weights, before the softmax": scores
        / math.sqrt(d_k),
    }


def diagnosis(actual: torch.Tensor, candidates: dict[str, torch.Tensor]) -> str:
    mistake = closest_match(actual, candidates)
    return f"It matches what you get when {mistake}." if mistake else ""


def check_against_torch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, what: str) -> None:
    out, weights = attend(q, k, v)
    expected_out = F.scaled_dot_product_attention(q, k, v)
    expected_weights = reference_weights(q, k)
    assert_shape(weights, tuple(expected_weights.shape), what=f"the weights for {what}")
    wrong = mistaken_weights(q, k, v)
    assert_close(
        weights,
        expected_weights,
        what=f"the weights for {what}",
        hint=diagnosis(weights, wrong),
    )
    wrong_out = {name: w @ v for name, w in wrong.items() if w.shape == expected_weights.shape}
    assert_close(
        out,
        expected_out,
        what=f"the output for {what}",
        hint=diagnosis(out, wrong_out) or "The output should be the weights times V.",
    )


def test_output_and_weight_shapes() -> None:
    q, k, v = qkv(2, tq=3, tk=5, d_k=8, d_v=6)
    out, weights = attend(q, k, v)
    assert_shape(weights, (2, 3, 5), what="the weights for 3 queries and 5 keys (batch 2)")
    assert_shape(out, (2, 3, 6), what="the output for 3 queries and values of size d_v = 6")


def test_scores_are_divided_by_sqrt_d_k_by_hand() -> None:
    # d_k = 4. The query matches key 0 with a dot product of 4 and key 1 with 0.
    # Scaled by 1/sqrt(4) = 1/2 the scores are [2, 0]; the weights are [e^2, 1] / (e^2 + 1).
    q = torch.tensor([[[1.0, 1.0, 1.0, 1.0]]], dtype=torch.float64)
    k = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    v = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=torch.float64)
    out, weights = attend(q, k, v)
    first = math.exp(2) / (math.exp(2) + 1)
    expected = torch.tensor([[[first, 1 - first]]], dtype=torch.float64)
    assert_close(
        weights,
        expected,
        what="the weights for scores [4, 0] with d_k = 4",
        hint=diagnosis(weights, mistaken_weights(q, k, v))
        or "Divide the scores [4, 0] by sqrt(4) = 2 before the softmax.",
    )
    assert_close(
        out,
        torch.tensor([[[first, 1 - first, 0.0]]], dtype=torch.float64),
        what="the output for values [1, 0, 0] and [0, 1, 0]",
        hint="The output is the weights times V.",
    )


def test_weights_rows_sum_to_one_over_the_keys() -> None:
    q, k, v = qkv(2, tq=4, tk=6, d_k=8, d_v=3, seed=10)
    _, weights = attend(q, k, v)
    assert_shape(weights, (2, 4, 6), what="the weights for 4 queries and 6 keys (batch 2)")
    assert_rows_sum_to_one(weights)


def test_matches_torch_sdpa_in_float64() -> None:
    q, k, v = qkv(2, tq=3, tk=5, d_k=8, d_v=6, seed=20)
    check_against_torch(q, k, v, "3 queries, 5 keys, d_k = 8, d_v = 6")


def test_scale_uses_key_size_not_value_size() -> None:
    # d_k = 16 and d_v = 4: only sqrt(d_k) = 4 is right; sqrt(d_v) = 2 is not.
    q, k, v = qkv(2, tq=4, tk=5, d_k=16, d_v=4, seed=30)
    check_against_torch(q, k, v, "d_k = 16 and d_v = 4")


def test_large_d_k_does_not_saturate() -> None:
    # With d_k = 256, unscaled dot products of random vectors are about 16 times larger than
    # the scaled ones, and the softmax puts almost all of each row on a single key.
    q, k, v = qkv(1, tq=4, tk=6, d_k=256, d_v=8, seed=40)
    _, weights = attend(q, k, v)
    expected = reference_weights(q, k)
    assert_shape(weights, tuple(expected.shape), what="the weights for d_k = 256")
    hint = diagnosis(weights, mistaken_weights(q, k, v))
    yours, wanted = weights.detach().double().amax().item(), expected.amax().item()
    if 0.99 < yours <= 1.0 + 1e-9 and wanted < 0.99:
        hint += (
            f" Your largest weight is {yours:.4f}: the softmax has saturated onto one key. "
            f"With scores scaled by 1/sqrt(d_k) the largest weight is {wanted:.4f}."
        )
    assert_close(weights, expected, what="the weights for d_k = 256", hint=hint.strip())


def test_single_key_gets_all_the_weight() -> None:
    # One key: every query must give it the whole unit of attention, and read its value.
    q, k, v = qkv(2, tq=3, tk=1, d_k=4, d_v=5, seed=50)
    out, weights = attend(q, k, v)
    assert_close(
        weights,
        torch.ones(2, 3, 1, dtype=torch.float64),
        what="the weights for a single key",
        hint="With one key, the softmax over the keys gives it weight 1 for every query.",
    )
    assert_close(
        out,
        v.expand(2, 3, 5),
        what="the output for a single key",
        hint="Each query should read exactly the one value vector.",
    )


def test_single_query() -> None:
    q, k, v = qkv(3, tq=1, tk=6, d_k=8, d_v=2, seed=60)
    check_against_torch(q, k, v, "a single query and 6 keys")


def test_works_with_a_head_axis() -> None:
    # Multi-head attention calls this with q, k, v of shape (B, H, T, d).
    q, k, v = qkv(2, 3, tq=4, tk=5, d_k=6, d_v=7, seed=70)
    check_against_torch(q, k, v, "inputs with a head axis, shape (B, H, T, d)")


def test_batch_items_are_independent() -> None:
    q, k, v = qkv(3, tq=4, tk=5, d_k=8, d_v=6, seed=80)
    together, _ = attend(q, k, v)
    alone, _ = attend(q[1:2], k[1:2], v[1:2])
    assert_close(
        together[1:2],
        alone,
        what="batch item 1 computed together with the others",
        hint="Each example in a batch must attend only within itself.",
    )
