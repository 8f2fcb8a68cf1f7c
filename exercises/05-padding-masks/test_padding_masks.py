"""Tests for exercise 05: scaled dot-product attention with a key padding mask.

Expected values are computed here in float64, one batch item at a time, by attending
only over the real (unpadded) keys of that item. Padding done right must give exactly
that, so the tests judge the learner's function, not a copy of it.
"""

import math

import pytest
import torch
from torch.nn import functional as F

from problem import attention_with_padding
from tutor.kit import assert_close, assert_shape, closest_match


def tensor(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def padding_mask(lengths: list[int], total: int) -> torch.Tensor:
    """(B, total) bool mask, True from position lengths[b] on: the padding."""
    positions = torch.arange(total)
    return positions[None, :] >= torch.tensor(lengths)[:, None]


def make_inputs(
    batch: int, t_q: int, t_k: int, d_k: int, d_v: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        tensor(batch, t_q, d_k, seed=seed),
        tensor(batch, t_k, d_k, seed=seed + 1),
        tensor(batch, t_k, d_v, seed=seed + 2),
    )


def reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over each batch item's real keys only; all-padding items give zeros."""
    q, k, v = q.double(), k.double(), v.double()
    batch, t_q, t_k = q.shape[0], q.shape[1], k.shape[1]
    weights = torch.zeros(batch, t_q, t_k, dtype=torch.float64)
    for b in range(batch):
        real = ~mask[b]
        if bool(real.any()):
            scores = q[b] @ k[b, real].T / math.sqrt(q.shape[-1])
            weights[b][:, real] = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def known_mistakes(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The attention weights that classic wrong versions would return."""
    q, k = q.double(), k.double()
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    padding = mask[:, None, :]
    mistakes = {
        "the padded weights are zeroed after the softmax, so the real keys' weights were "
        "normalised with the padding still included": torch.softmax(scores, dim=-1).masked_fill(
            padding, 0.0
        ),
        "padded scores are set to 0 instead of -inf: exp(0) = 1 still gives them weight": (
            torch.softmax(scores.masked_fill(padding, 0.0), dim=-1)
        ),
        "the mask is read the wrong way round: True should mean padding (drop it), "
        "not a real token": reference(q, k, v, ~mask)[1],
        "the scores are not divided by sqrt(d_k)": reference(
            q * math.sqrt(q.shape[-1]), k, v, mask
        )[1],
    }
    batch, t_q, t_k = scores.shape
    if t_q == t_k:
        by_query = mask[:, :, None]
        mistakes[
            "the mask is lined up with the queries, (B, Tk, 1), so it blanks query rows "
            "instead of key columns; it should be (B, 1, Tk)"
        ] = torch.softmax(scores.masked_fill(by_query, float("-inf")), dim=-1).masked_fill(
            by_query, 0.0
        )
    if t_q == batch:
        mistakes[
            "the (B, Tk) mask is used without reshaping: it broadcasts as (1, B, Tk), so "
            "mask row b lands on query b of every batch item; it should be (B, 1, Tk)"
        ] = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1).masked_fill(mask, 0.0)
    return mistakes


def call(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the learner's function and check what comes back before any value is compared."""
    shapes = (
        f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, "
        f"key_padding_mask {tuple(mask.shape)}"
    )
    try:
        result = attention_with_padding(q, k, v, mask)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        pytest.fail(
            f"attention_with_padding raised an error for {shapes}: {str(error).rstrip('.')}. "
            "If the sizes do not match, look at how the (B, Tk) mask lines up with the "
            "(B, Tq, Tk) scores: it has to be reshaped to (B, 1, Tk) so that it covers the "
            "keys (the last axis) and is shared by every query"
        )
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail("attention_with_padding should return a pair: (out, weights)")
    out, weights = result
    batch, t_q, t_k, d_v = q.shape[0], q.shape[1], k.shape[1], v.shape[-1]
    assert_shape(weights, (batch, t_q, t_k), what=f"the attention weights for {shapes}")
    assert_shape(out, (batch, t_q, d_v), what=f"the output for {shapes}")
    check_no_nan(weights.detach(), mask, what="the attention weights")
    check_no_nan(out.detach(), mask, what="the output")
    return out, weights


def check_no_nan(values: torch.Tensor, mask: torch.Tensor, *, what: str) -> None:
    bad = ~torch.isfinite(values)
    if not bool(bad.any()):
        return
    b, i = (int(n) for n in bad.nonzero()[0][:2])
    real_keys = int((~mask[b]).sum())
    if real_keys == 0:
        pytest.fail(
            f"{what} of query {i} in batch item {b} contain {values[b, i][bad[b, i]][0].item()}. "
            "Every key of that batch item is padding, so after masking its row of scores "
            "is all -inf and softmax divides 0 by 0. The rule here: such a row gets "
            "all-zero weights and a zero output; set it explicitly after the softmax"
        )
    pytest.fail(
        f"{what} of query {i} in batch item {b} contain {values[b, i][bad[b, i]][0].item()}, "
        f"yet that batch item has {real_keys} real keys, so none of its rows should be "
        "empty. Check that the mask covers the keys (the last axis of the scores), "
        "not the queries"
    )


def check_against_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
) -> None:
    with torch.no_grad():
        out, weights = call(q, k, v, mask)
    expected_out, expected_weights = reference(q, k, v, mask)
    mistake = closest_match(weights, known_mistakes(q, k, v, mask))
    hint = f"They match what you get when {mistake}." if mistake else ""
    assert_close(weights, expected_weights, what="the attention weights", hint=hint)
    assert_close(
        out,
        expected_out,
        what="the output",
        hint="The weights are right, so look at how they are combined with v.",
    )


def test_output_and_weight_shapes() -> None:
    q, k, v = make_inputs(batch=2, t_q=3, t_k=5, d_k=8, d_v=6, seed=0)
    out, weights = call(q, k, v, padding_mask([5, 2], 5))
    assert_shape(out, (2, 3, 6), what="the output for q (2, 3, 8), v (2, 5, 6)")
    assert_shape(weights, (2, 3, 5), what="the weights for q (2, 3, 8), k (2, 5, 8)")


def test_no_padding_matches_scaled_dot_product_attention() -> None:
    # With no padding at all this is plain scaled attention, which torch provides.
    q, k, v = make_inputs(batch=2, t_q=4, t_k=6, d_k=8, d_v=5, seed=10)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    with torch.no_grad():
        out, _ = call(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q.double(), k.double(), v.double())
    assert_close(
        out,
        expected,
        what="the output when no key is padding",
        hint="With an all-False mask nothing is padding: every key should take part. "
        "If your output is all zeros, the mask is read the wrong way round.",
    )


def test_padded_keys_get_zero_weight() -> None:
    q, k, v = make_inputs(batch=3, t_q=2, t_k=6, d_k=8, d_v=4, seed=20)
    mask = padding_mask([6, 3, 1], 6)
    with torch.no_grad():
        _, weights = call(q, k, v, mask)
    leaked = weights.double().abs() * mask[:, None, :]
    if bool((leaked > 1e-6).any()):
        b, i, j = (int(n) for n in (leaked > 1e-6).nonzero()[0])
        pytest.fail(
            f"query {i} of batch item {b} gives weight {weights[b, i, j].item():.4g} to key {j}, "
            "which is padding (True in the mask). A padded key must get exactly 0: give its "
            "score -inf BEFORE the softmax, since exp(-inf) = 0 (a score of 0 is not enough, "
            "exp(0) = 1)"
        )


def test_weights_sum_to_one_over_the_real_keys() -> None:
    q, k, v = make_inputs(batch=3, t_q=4, t_k=5, d_k=8, d_v=4, seed=30)
    mask = padding_mask([5, 2, 4], 5)
    with torch.no_grad():
        _, weights = call(q, k, v, mask)
    sums = weights.double().sum(dim=-1)
    off = (sums - 1.0).abs() > 1e-4
    if bool(off.any()):
        b, i = (int(n) for n in off.nonzero()[0])
        total = sums[b, i].item()
        if abs(total) < 1e-6:
            why = (
                "All of its weights are 0, as if every key were padding, yet batch item "
                f"{b} has {int((~mask[b]).sum())} real keys. True in the mask means padding; "
                "False means a real key that takes part"
            )
        else:
            why = (
                "Masking after the softmax removes some of the weight instead of sharing it "
                "among the real keys: mask the scores, then softmax over the last dimension"
            )
        pytest.fail(
            f"row {i} of the attention weights (batch item {b}) sums to {total:.4g} over the "
            f"keys; it should sum to 1 over the real keys. {why}"
        )


def test_matches_reference() -> None:
    q, k, v = make_inputs(batch=3, t_q=4, t_k=7, d_k=8, d_v=5, seed=40)
    check_against_reference(q, k, v, padding_mask([7, 3, 5], 7))


def test_square_case_matches_reference() -> None:
    # B == Tq == Tk == d_k: a mask on the wrong axis, or one not reshaped at all,
    # runs without a shape error here, so only the values can reveal it.
    q, k, v = make_inputs(batch=4, t_q=4, t_k=4, d_k=4, d_v=4, seed=50)
    check_against_reference(q, k, v, padding_mask([4, 2, 3, 1], 4))


def test_changing_padded_keys_and_values_changes_nothing() -> None:
    # Padding is filler: whatever sits in the padded positions of k and v,
    # the outputs and weights must be exactly the same.
    q, k, v = make_inputs(batch=2, t_q=5, t_k=5, d_k=8, d_v=6, seed=60)
    mask = padding_mask([3, 5], 5)
    noise_k, noise_v = 10 * tensor(2, 5, 8, seed=61), 10 * tensor(2, 5, 6, seed=62)
    k2 = torch.where(mask[:, :, None], noise_k, k)
    v2 = torch.where(mask[:, :, None], noise_v, v)
    with torch.no_grad():
        out, weights = call(q, k, v, mask)
        out2, weights2 = call(q, k2, v2, mask)
    assert_close(
        weights2,
        weights,
        what="the weights after changing the padded keys",
        hint="Padded keys are still taking part in the scores: mask them along the keys axis.",
    )
    assert_close(
        out2,
        out,
        what="the output after changing the padded keys and values",
        hint="Whatever is stored in the padding must not reach the output.",
    )


def test_fully_masked_row_gives_zero_weights_and_zero_output() -> None:
    # Batch item 1 has no real token at all: every key is padding.
    q, k, v = make_inputs(batch=3, t_q=2, t_k=4, d_k=8, d_v=3, seed=70)
    mask = padding_mask([4, 0, 2], 4)
    with torch.no_grad():
        out, weights = call(q, k, v, mask)
    hint = "The rule for a row with every key padded: all-zero weights."
    if torch.allclose(weights[1].double(), torch.full((2, 4), 0.25, dtype=torch.float64)):
        hint += (
            " Your rows spread their weight evenly over the padding: that is what a fill of 0,"
            " or a large finite fill such as -1e9, gives when empty rows get no special case."
        )
    assert_close(
        weights[1],
        torch.zeros(2, 4),
        what="the weights of batch item 1, whose keys are all padding",
        hint=hint,
    )
    assert_close(
        out[1],
        torch.zeros(2, 3),
        what="the output of batch item 1, whose keys are all padding",
        hint="With all-zero weights the output is zero too.",
    )
    expected_out, _ = reference(q, k, v, mask)
    assert_close(
        out[[0, 2]],
        expected_out[[0, 2]],
        what="the output of the batch items that do have real keys",
        hint="Rows with real keys are ordinary attention over those keys alone.",
    )


def test_single_real_key_takes_all_the_attention() -> None:
    # Only key 0 is real: every query must give it weight 1 and copy its value.
    q, k, v = make_inputs(batch=2, t_q=3, t_k=4, d_k=8, d_v=5, seed=80)
    mask = padding_mask([1, 1], 4)
    with torch.no_grad():
        out, weights = call(q, k, v, mask)
    expected_weights = torch.zeros(2, 3, 4)
    expected_weights[:, :, 0] = 1.0
    assert_close(
        weights,
        expected_weights,
        what="the weights when key 0 is the only real key",
        hint="All of each query's attention should go to the one real key.",
    )
    assert_close(
        out,
        v[:, :1].expand(2, 3, 5),
        what="the output when key 0 is the only real key",
        hint="Every query should copy the value of key 0.",
    )


def test_gradients_stay_finite_with_a_fully_masked_row() -> None:
    # Training runs backward through this function; one empty row must not
    # poison the gradients with NaN.
    q, k, v = make_inputs(batch=2, t_q=3, t_k=4, d_k=8, d_v=5, seed=90)
    for t in (q, k, v):
        t.requires_grad_(True)
    mask = padding_mask([3, 0], 4)
    out, _ = call(q, k, v, mask)
    (out * tensor(2, 3, 5, seed=91)).sum().backward()
    for name, t in (("q", q), ("k", k), ("v", v)):
        assert t.grad is not None, f"no gradient reached {name}; keep the computation in torch"
        if not bool(torch.isfinite(t.grad).all()):
            pytest.fail(
                f"the gradient of {name} contains NaN or inf when batch item 1 is all "
                "padding. Put -inf into the scores with masked_fill (or torch.where): "
                "autograd then sends no gradient back through the filled positions. Adding "
                "a tensor of -inf to the scores instead lets the NaN of the empty rows flow "
                "back into q and k, even if the forward pass cleans it up afterwards"
            )
