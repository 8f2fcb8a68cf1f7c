"""Assertions for exercise tests that explain failures in the learner's terms.

Exercise suites reach these through ``tutor.kit``. Every helper raises
``AssertionError`` with a message written for a learner: what was compared, where it
went wrong, and by how much, instead of a raw ``allclose`` dump.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

__all__ = [
    "assert_close",
    "assert_finite",
    "assert_rows_sum_to_one",
    "assert_shape",
    "closest_match",
    "describe_shape",
]


def describe_shape(shape: Sequence[int] | torch.Size) -> str:
    """Write a shape the way the lessons do: ``(2, 5, 16)``."""
    return "(" + ", ".join(str(int(n)) for n in shape) + ")"


def assert_shape(actual: object, expected: Sequence[int], *, what: str) -> None:
    """Fail unless ``actual`` is a tensor of exactly the ``expected`` shape."""
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what} should be a torch.Tensor, but it is {type(actual).__name__}")
    if tuple(actual.shape) != tuple(expected):
        raise AssertionError(
            f"{what}: shape {describe_shape(actual.shape)}, expected {describe_shape(expected)}"
        )


def assert_finite(actual: torch.Tensor, *, what: str) -> None:
    """Fail if ``actual`` holds a NaN or an infinity, naming the first one."""
    bad = ~torch.isfinite(actual)
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        value = actual[index].item()
        raise AssertionError(f"{what}: {value} at index {index}; every value should be finite")


def assert_close(
    actual: object,
    expected: torch.Tensor,
    *,
    what: str,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    hint: str = "",
) -> None:
    """Compare ``actual`` to a reference value, shape first, then every element.

    ``expected`` is usually computed in float64; ``actual`` is cast to it so a learner's
    float32 result compares fairly.
    """
    assert_shape(actual, tuple(expected.shape), what=what)
    assert isinstance(actual, torch.Tensor)
    got = actual.detach().to(torch.float64)
    want = expected.detach().to(torch.float64)
    assert_finite(got, what=what)
    diff = (got - want).abs()
    limit = atol + rtol * want.abs()
    if bool((diff > limit).any()):
        index = tuple(int(i) for i in torch.unravel_index((diff - limit).argmax(), diff.shape))
        message = (
            f"{what}, against the reference: at index {index} you have "
            f"{got[index].item():.4g}, expected {want[index].item():.4g} "
            f"(largest difference {diff.max().item():.3g})"
        )
        raise AssertionError(f"{message}. {hint}" if hint else message)


def assert_rows_sum_to_one(weights: torch.Tensor, *, what: str = "the attention weights") -> None:
    """Fail unless every row (last dimension) of ``weights`` sums to 1."""
    sums = weights.detach().to(torch.float64).sum(dim=-1)
    off = (sums - 1.0).abs() > 1e-4
    if bool(off.any()):
        index = tuple(int(i) for i in off.nonzero()[0])
        raise AssertionError(
            f"row {index[-1]} of {what} sums to {sums[index].item():.4g} over the keys; "
            "softmax should normalise over the last dimension (the keys) so every row sums to 1"
        )


def closest_match(
    actual: torch.Tensor,
    candidates: Mapping[str, torch.Tensor],
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> str | None:
    """Return the name of the first candidate that ``actual`` equals, if any.

    Tests use it to turn a mismatch into a diagnosis: build the outputs that known
    mistakes would give, and if the learner's output is one of them, say which.
    """
    got = actual.detach().to(torch.float64)
    for name, value in candidates.items():
        want = value.detach().to(torch.float64)
        if got.shape == want.shape and torch.allclose(got, want, atol=atol, rtol=rtol):
            return name
    return None
