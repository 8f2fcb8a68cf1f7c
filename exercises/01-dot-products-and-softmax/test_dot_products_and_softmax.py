"""Tests for exercise 01: dot products between queries and keys, and a stable softmax.

Expected values are computed here in float64, element by element, so the tests judge the
learner's functions and never reuse them.
"""

import math

import pytest
import torch
from torch.nn import functional as F

import problem
from problem import dot_scores, softmax
from tutor.kit import assert_close, assert_finite, assert_shape, closest_match


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def call(what: str, function, *args, **kwargs) -> torch.Tensor:
    """Run the learner's function; turn a crash (other than the skeleton's) into a clear failure."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise
    except (RuntimeError, IndexError, TypeError, ValueError) as error:
        hint = ""
        if function is softmax and "size of tensor" in str(error):
            hint = (
                ". A max or a sum taken without keepdim=True loses the axis of dim, and then "
                "lines up with the wrong axis of x"
            )
        pytest.fail(f"{what} raised {type(error).__name__}: {error}{hint}")


def reference_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    # Pair every query row with every key row, multiply feature by feature, add up.
    return (q.double().unsqueeze(-2) * k.double().unsqueeze(-3)).sum(dim=-1)


def reference_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    x64 = x.double()
    exps = torch.exp(x64 - x64.amax(dim=dim, keepdim=True))
    return exps / exps.sum(dim=dim, keepdim=True)


def score_mistakes(q: torch.Tensor, k: torch.Tensor) -> dict[str, torch.Tensor]:
    q64, k64 = q.double(), k.double()
    mistakes = {"queries and keys swapped roles: K Q^T instead of Q K^T": k64 @ q64.mT}
    if q.shape[-1] == k.shape[-2]:
        mistakes["k is not transposed: the scores are Q K instead of Q K^T"] = q64 @ k64
    return mistakes


def softmax_mistakes(x: torch.Tensor, dim: int) -> dict[str, torch.Tensor]:
    x64 = x.double()
    mistakes = {
        "there is no exp: the scores are divided by their plain sum": x64
        / x64.sum(dim=dim, keepdim=True),
        "the softmax runs over the last dim instead of the dim argument": reference_softmax(
            x, dim=-1
        ),
        "the exps are not divided by their sum": torch.exp(x64),
    }
    try:  # only when the shapes happen to broadcast (square inputs), as in the mistake itself
        exps = torch.exp(x64 - x64.amax(dim=dim))
    except RuntimeError:
        return mistakes
    mistakes["the max is taken without keepdim=True, so it lines up with the wrong axis"] = (
        exps / exps.sum(dim=dim, keepdim=True)
    )
    return mistakes


def check_softmax(x: torch.Tensor, dim: int, what: str) -> None:
    out = call(what, softmax, x, dim=dim)
    expected = reference_softmax(x, dim)
    assert_shape(out, tuple(x.shape), what=what)
    mistake = closest_match(out, softmax_mistakes(x, dim))
    hint = f"It matches what you get when {mistake}." if mistake else ""
    assert_close(out, expected, what=what, hint=hint)


def test_dot_scores_of_small_vectors_by_hand() -> None:
    q = torch.tensor([[1.0, 2.0, 3.0]])
    k = torch.tensor([[4.0, 5.0, 6.0], [1.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    # 1*4 + 2*5 + 3*6 = 32,   1*1 + 2*0 + 3*(-1) = -2,   anything . 0 = 0
    expected = torch.tensor([[32.0, -2.0, 0.0]])
    out = call("dot_scores(q, k) for one query and three keys", dot_scores, q, k)
    assert_close(
        out,
        expected,
        what="the scores of one query against three keys",
        hint="Entry [i, j] is the dot product of query i with key j.",
    )


def test_dot_scores_queries_and_keys_of_different_lengths() -> None:
    q, k = inputs(2, 3, 4, seed=2), inputs(2, 5, 4, seed=3)
    out = call("dot_scores for 3 queries and 5 keys", dot_scores, q, k)
    assert_shape(out, (2, 3, 5), what="the scores for 3 queries and 5 keys (batch of 2)")
    assert_close(out, reference_scores(q, k), what="the scores for 3 queries and 5 keys")


def test_dot_scores_square_case() -> None:
    # Tq == Tk == d: forgetting to transpose k runs without a shape error here,
    # so only the values can reveal it.
    q, k = inputs(2, 4, 4, seed=4), inputs(2, 4, 4, seed=5)
    out = call("dot_scores for square inputs", dot_scores, q, k)
    mistake = closest_match(out, score_mistakes(q, k)) if out.shape == (2, 4, 4) else None
    hint = f"It matches what you get when {mistake}." if mistake else ""
    assert_close(
        out, reference_scores(q, k), what="the scores for 4 queries, 4 keys, d = 4", hint=hint
    )


def test_dot_scores_with_any_leading_dimensions() -> None:
    hint = (
        "Swap only the last two axes of k (transpose(-2, -1)); .T reverses every axis, "
        "batch and heads included."
    )
    q2, k2 = inputs(3, 4, seed=6), inputs(5, 4, seed=7)
    out2 = call("dot_scores on 2-D inputs (3, 4) and (5, 4)", dot_scores, q2, k2)
    assert_close(out2, reference_scores(q2, k2), what="the scores for 2-D inputs", hint=hint)
    q4, k4 = inputs(2, 2, 3, 4, seed=8), inputs(2, 2, 5, 4, seed=9)
    out4 = call(
        "dot_scores on inputs with batch and head axes (2, 2, 3, 4) and (2, 2, 5, 4)",
        dot_scores,
        q4,
        k4,
    )
    assert_close(
        out4,
        reference_scores(q4, k4),
        what="the scores for inputs of shape (B, H, T, d)",
        hint=hint,
    )


def test_softmax_matches_reference() -> None:
    check_softmax(inputs(3, 5, seed=10), dim=-1, what="softmax of a (3, 5) tensor over dim=-1")


def test_softmax_weights_are_positive_and_rows_sum_to_one() -> None:
    x = inputs(2, 4, 6, seed=11) * 3.0
    out = call("softmax(x)", softmax, x)
    assert_shape(out, (2, 4, 6), what="softmax of a (2, 4, 6) tensor")
    out64 = out.detach().double()
    assert_finite(out64, what="softmax of a (2, 4, 6) tensor")
    if bool((out64 < 0).any()):
        index = tuple(int(i) for i in (out64 < 0).nonzero()[0])
        pytest.fail(
            f"softmax gives a negative weight {out64[index].item():.4g} at index {index}; "
            "exp makes every weight positive: exponentiate the shifted scores before dividing"
        )
    sums = out64.sum(dim=-1)
    off = (sums - 1.0).abs() > 1e-5
    if bool(off.any()):
        b, i = (int(n) for n in off.nonzero()[0])
        pytest.fail(
            f"row {i} (batch item {b}) of the softmax sums to {sums[b, i].item():.4g}; "
            "divide the exps by their sum along dim so every slice sums to 1"
        )


def test_softmax_square_input() -> None:
    # A square input hides an axis mix-up from broadcasting: only the values show it.
    check_softmax(inputs(4, 4, seed=12) * 2.0, dim=-1, what="softmax of a (4, 4) tensor")


def test_softmax_huge_and_tiny_scores_stay_finite() -> None:
    x = torch.tensor([[1000.0, 1001.0, 1002.0], [500.0, 0.0, -500.0], [-1000.0, -1001.0, -1002.0]])
    out = call("softmax of scores near +1000 and -1000", softmax, x)
    assert_shape(out, (3, 3), what="softmax of a (3, 3) tensor")
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        row = int(bad.nonzero()[0][0])
        why = (
            "every exp underflows to 0, and 0 / 0 is nan"
            if row == 2
            else "an exp overflows to inf (float32 cannot hold exp(89) or more)"
        )
        pytest.fail(
            f"softmax of row {row}, {x[row].tolist()}, gives nan or inf: {why}. Subtract the "
            "largest score of each row first; softmax does not change when every score of a "
            "row moves by the same amount"
        )
    # After the shift, rows 0 and 2 are exp(-2), exp(-1), exp(0) normalised (in some order).
    total = 1 + math.exp(-1) + math.exp(-2)
    small, middle, large = math.exp(-2) / total, math.exp(-1) / total, 1 / total
    expected = torch.tensor(
        [[small, middle, large], [1.0, 0.0, 0.0], [large, middle, small]], dtype=torch.float64
    )
    assert_close(out, expected, what="softmax of scores near +1000 and -1000")


def test_softmax_rows_with_very_different_scales() -> None:
    # One max for the whole tensor is not enough: the second row sits 1000 below it.
    x = torch.tensor([[1000.0, 1001.0, 999.0], [0.0, 1.0, 2.0]])
    out = call("softmax of rows with very different scales", softmax, x)
    assert_shape(out, (2, 3), what="softmax of a (2, 3) tensor")
    if not bool(torch.isfinite(out).all()):
        pytest.fail(
            "softmax of [[1000, 1001, 999], [0, 1, 2]] gives nan or inf. Subtract the max of "
            "every row separately (along dim, with keepdim=True). With no shift row 0 overflows; "
            "with one max for the whole tensor row 1 sits a thousand below it and every one of "
            "its exps underflows to 0"
        )
    assert_close(out, reference_softmax(x, -1), what="softmax of rows with very different scales")


def test_softmax_along_any_dim() -> None:
    x = inputs(2, 3, 4, seed=13)
    for dim in (0, 1, -2, 2):
        check_softmax(x, dim=dim, what=f"softmax of a (2, 3, 4) tensor over dim={dim}")


def test_softmax_minus_infinity_gets_zero_weight() -> None:
    # Masking (exercise 04) writes -inf into the scores a token must not see.
    inf = math.inf
    x = torch.tensor([[0.0, -inf, 1.0, -inf], [-inf, 2.0, 2.0, -inf]])
    out = call("softmax of rows holding -inf", softmax, x)
    assert_shape(out, (2, 4), what="softmax of a (2, 4) tensor")
    if not bool(torch.isfinite(out).all()):
        pytest.fail(
            "softmax of a row holding -inf gives nan. Shift by the row's max (a finite "
            "number here): exp(-inf - max) is exactly 0. Shifting by the mean or the min "
            "computes -inf - (-inf), which is nan"
        )
    a = 1 / (1 + math.e)
    expected = torch.tensor([[a, 0.0, 1 - a, 0.0], [0.0, 0.5, 0.5, 0.0]], dtype=torch.float64)
    assert_close(out, expected, what="softmax of [[0, -inf, 1, -inf], [-inf, 2, 2, -inf]]")


class BuiltinSoftmaxUsed(Exception):
    """Raised by the stand-ins that replace torch's own softmax during a test."""


def test_softmax_is_written_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    banned = {
        "torch.softmax": (torch, "softmax"),
        "torch.nn.functional.softmax": (F, "softmax"),
        "Tensor.softmax": (torch.Tensor, "softmax"),
        "torch.special.softmax": (torch.special, "softmax"),
        "torch.log_softmax": (torch, "log_softmax"),
        "torch.nn.functional.log_softmax": (F, "log_softmax"),
        "Tensor.log_softmax": (torch.Tensor, "log_softmax"),
        "torch.logsumexp": (torch, "logsumexp"),
        "Tensor.logsumexp": (torch.Tensor, "logsumexp"),
        "torch.special.logsumexp": (torch.special, "logsumexp"),
        "torch.nn.Softmax": (torch.nn.Softmax, "forward"),
        "torch.nn.LogSoftmax": (torch.nn.LogSoftmax, "forward"),
    }

    def stand_in(name: str):
        def refuse(*args, **kwargs):
            raise BuiltinSoftmaxUsed(name)

        return refuse

    originals = {id(getattr(owner, attr)): name for name, (owner, attr) in banned.items()}
    for name, (owner, attr) in banned.items():
        monkeypatch.setattr(owner, attr, stand_in(name))
    # Also catch names imported straight into problem.py (from torch import logsumexp).
    for attr, value in list(vars(problem).items()):
        if id(value) in originals and attr != "softmax":
            monkeypatch.setattr(problem, attr, stand_in(originals[id(value)]))

    x = inputs(3, 5, seed=14)
    try:
        call("softmax(x, dim=-1)", softmax, x, dim=-1)
    except BuiltinSoftmaxUsed as used:
        pytest.fail(
            f"your softmax calls {used}. Write it yourself: subtract the max along dim, "
            "torch.exp, then divide by the sum along dim"
        )
