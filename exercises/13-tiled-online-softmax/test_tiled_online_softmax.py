"""Tests for exercise 13: tiled attention with an online softmax.

The expected output is torch.nn.functional.scaled_dot_product_attention in float64. Two tests
watch HOW the result is computed: no softmax function may be called, and no tensor as large as
the full (Tq, Tk) score matrix may be created while block_size < Tk.
"""

import math

import pytest
import torch
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from problem import online_softmax_attention
from tutor.kit import assert_close, assert_shape, closest_match


def qkv(B: int, Tq: int, Tk: int, d: int, d_v: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(B, Tq, d, generator=generator)
    k = torch.randn(B, Tk, d, generator=generator)
    v = torch.randn(B, Tk, d_v, generator=generator)
    return q, k, v


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q.double(), k.double(), v.double())


def tiled_mistake(q, k, v, block_size: int, mistake: str) -> torch.Tensor:
    """What a block loop with one known mistake returns (float64, for diagnosis only)."""
    q, k, v = q.double(), k.double(), v.double()
    Tk = k.shape[-2]
    row_max = q.new_full((*q.shape[:-1], 1), float("-inf"))
    row_sum = q.new_zeros((*q.shape[:-1], 1))
    acc = q.new_zeros((*q.shape[:-1], v.shape[-1]))
    stop = Tk - block_size + 1 if mistake == "drop_last" else Tk
    for start in range(0, stop, block_size):
        s = q @ k[:, start : start + block_size].transpose(-2, -1) / math.sqrt(q.shape[-1])
        new_max = torch.maximum(row_max, s.amax(dim=-1, keepdim=True))
        correction = torch.exp(row_max - new_max)
        p = torch.exp(s - new_max)
        keep_sum = 1.0 if mistake == "no_sum_rescale" else correction
        keep_acc = 1.0 if mistake == "no_acc_rescale" else correction
        row_sum = row_sum * keep_sum + p.sum(dim=-1, keepdim=True)
        acc = acc * keep_acc + p @ v[:, start : start + block_size]
        row_max = new_max
    return acc if mistake == "no_division" else acc / row_sum


MISTAKES = {
    "no_acc_rescale": "the accumulator is not multiplied by exp(old max - new max) when the "
    "running max grows",
    "no_sum_rescale": "the running sum is not multiplied by exp(old max - new max) when the "
    "running max grows",
    "drop_last": "the last, shorter block of keys is skipped: the loop stops before it",
    "no_division": "the accumulator is never divided by the running sum at the end",
}


NOT_FINITE = (
    "A NaN or inf usually comes from exp of a large positive number (inf), or from dividing "
    "by a running sum that is still 0 (no block visited, or every exponential underflowed)."
)


def check_finite(out: torch.Tensor, *, what: str, hint: str = NOT_FINITE) -> None:
    bad = ~torch.isfinite(out.detach())
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        pytest.fail(f"{what} contains {out[index].item()} at index {index}. {hint}")


def check(q, k, v, block_size: int, what: str, expected: torch.Tensor | None = None) -> None:
    out = online_softmax_attention(q, k, v, block_size)
    if expected is None:
        expected = reference(q, k, v)
    assert_shape(out, tuple(expected.shape), what=what)
    check_finite(out, what=what)
    hint = ""
    if not torch.allclose(out.detach().double(), expected, atol=1e-5, rtol=1e-4):
        candidates = {text: tiled_mistake(q, k, v, block_size, m) for m, text in MISTAKES.items()}
        mistake = closest_match(out, candidates)
        hint = f"It matches what you get when {mistake}." if mistake else ""
    assert_close(out, expected, what=what, hint=hint)


def test_block_size_that_divides_the_length() -> None:
    q, k, v = qkv(2, 5, 12, 4, 3, seed=1)
    check(q, k, v, 4, what="the output with 12 keys in blocks of 4")


def test_block_size_that_does_not_divide_the_length() -> None:
    # 10 keys in blocks of 3: 3 + 3 + 3 + 1. The last block has a single key.
    q, k, v = qkv(2, 4, 10, 4, 5, seed=2)
    check(q, k, v, 3, what="the output with 10 keys in blocks of 3")


def test_block_size_one() -> None:
    q, k, v = qkv(1, 3, 7, 6, 2, seed=3)
    check(q, k, v, 1, what="the output with blocks of a single key")


def test_one_block_covering_all_keys() -> None:
    q, k, v = qkv(2, 4, 6, 3, 3, seed=4)
    check(q, k, v, 6, what="the output with block_size equal to the number of keys")
    check(q, k, v, 50, what="the output with block_size larger than the number of keys")


def test_query_and_key_lengths_differ() -> None:
    q, k, v = qkv(3, 2, 9, 5, 7, seed=5)
    check(q, k, v, 4, what="the output for 2 queries, 9 keys, d = 5, d_v = 7")


def test_single_key_returns_its_value() -> None:
    q, k, v = qkv(2, 3, 1, 4, 4, seed=6)
    out = online_softmax_attention(q, k, v, 2)
    check_finite(out, what="the output with a single key")
    assert_close(
        out,
        v.expand(2, 3, 4),
        what="the output with a single key",
        hint="With one key its weight is 1, so every query's output is that key's value.",
    )


def test_large_scores_do_not_overflow() -> None:
    # Scores of size ~1000: exp(1000) is inf in any float type. Subtracting the running max
    # keeps every exponent <= 0.
    q, k, v = qkv(2, 4, 11, 4, 3, seed=7)
    q = q * 1000.0
    out = online_softmax_attention(q, k, v, 3)
    check_finite(
        out,
        what="the output for scores of size about 1000",
        hint="An exponential overflowed: exp(1000) is inf, and inf / inf is nan. Take every "
        "exponential relative to the running max, so that exp(score - running max) and "
        "exp(old max - new max) are never above 1: the running max must never go down.",
    )
    check(q, k, v, 3, what="the output for scores of size about 1000")


def test_very_negative_scores_do_not_underflow() -> None:
    # Every score is below -300, so exp(score) is 0 in float32. Only exponents taken
    # relative to the running max of the actual scores (starting from -inf) stay usable.
    q, k, v = qkv(2, 3, 8, 4, 3, seed=8)
    q, k = -q.abs() * 300.0 - 300.0, k.abs() + 1.0
    out = online_softmax_attention(q, k, v, 3)
    check_finite(
        out,
        what="the output when all scores are very negative",
        hint="Every exponential underflowed to 0 and 0 / 0 is nan. The running max must start "
        "at -inf and follow the real scores, so the best key so far always gets exp(0) = 1; "
        "and it must never go down, or exp(old max - new max) overflows.",
    )
    check(q, k, v, 3, what="the output when all scores are very negative")


BANNED = "softmax, log_softmax or scaled_dot_product_attention"


def raise_banned(*args: object, **kwargs: object) -> None:
    raise AssertionError(
        f"your code called a ready-made {BANNED}: this exercise builds the softmax itself, "
        "one block at a time, from a running max and a running sum of exponentials"
    )


class Watch(TorchFunctionMode):
    """Sees every torch function and tensor method the learner's code calls.

    It records the first call of a softmax-like function, and the first result tensor that is
    as big as the full score matrix: one dimension of at least Tk and another of at least Tq
    (in either order, and whatever other dimensions there are), or at least B * Tq * Tk
    elements. With the sizes used below (B, d, d_v < Tq < Tk, block_size < Tk) no tensor of a
    correct block loop comes close: the inputs have Tk but no second large dimension, and a
    block of scores is (B, Tq, block_size).
    """

    def __init__(self, B: int, Tq: int, Tk: int) -> None:
        super().__init__()
        self.B, self.Tq, self.Tk = B, Tq, Tk
        self.banned_call: str | None = None
        self.full_matrix: tuple[str, tuple[int, ...]] | None = None

    def too_big(self, shape: tuple[int, ...]) -> bool:
        if math.prod(shape) >= self.B * self.Tq * self.Tk:
            return True
        return any(
            a != b and shape[a] >= self.Tk and shape[b] >= self.Tq
            for a in range(len(shape))
            for b in range(len(shape))
        )

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", repr(func))
        if "softmax" in name or "scaled_dot_product_attention" in name:
            self.banned_call = self.banned_call or name
        result = func(*args, **(kwargs or {}))
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        for t in outputs:
            if (
                self.full_matrix is None
                and isinstance(t, torch.Tensor)
                and self.too_big(tuple(t.shape))
            ):
                self.full_matrix = (name, tuple(t.shape))
        return result


def test_does_not_call_softmax(monkeypatch: pytest.MonkeyPatch) -> None:
    q, k, v = qkv(2, 6, 20, 4, 4, seed=9)
    expected = reference(q, k, v)
    for owner, attr in (
        (torch, "softmax"),
        (torch, "log_softmax"),
        (torch.Tensor, "softmax"),
        (torch.Tensor, "log_softmax"),
        (F, "softmax"),
        (F, "log_softmax"),
        (torch.special, "softmax"),
        (F, "scaled_dot_product_attention"),
    ):
        monkeypatch.setattr(owner, attr, raise_banned)
    watch = Watch(2, 6, 20)
    with watch:  # also catches a softmax imported under another name
        check(q, k, v, 5, what="the output with 20 keys in blocks of 5", expected=expected)
    assert watch.banned_call is None, (
        f"your code called {watch.banned_call}: this exercise builds the softmax itself, one "
        "block at a time, from a running max and a running sum of exponentials"
    )


def test_never_builds_the_full_score_matrix() -> None:
    # 6 queries, 20 keys, blocks of 5 and of 7 (the last block of 7 has 6 keys).
    B, Tq, Tk = 2, 6, 20
    q, k, v = qkv(B, Tq, Tk, 4, 4, seed=10)
    for block_size in (5, 7):
        watch = Watch(B, Tq, Tk)
        with watch:
            online_softmax_attention(q, k, v, block_size)
        if watch.full_matrix is not None:
            name, shape = watch.full_matrix
            pytest.fail(
                f"with {Tq} queries, {Tk} keys and block_size={block_size}, your code created "
                f"a tensor of shape {shape} (in {name}). That is as large as the full "
                f"{Tq} x {Tk} matrix of scores, one entry per query-key pair: tiled attention "
                f"never holds it. Work on one block of keys at a time: scores of shape "
                f"({B}, {Tq}, {block_size}) or smaller."
            )
        check(q, k, v, block_size, what=f"the output in blocks of {block_size}")
