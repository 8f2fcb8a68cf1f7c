"""The kit's messages read right whatever the tested value is called, plural included."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tutor.kit import assert_close, assert_finite, assert_shape


@pytest.mark.parametrize("what", ["the attention weights", "the output"])
def test_messages_agree_with_a_plural_or_a_singular_name(what: str) -> None:
    failures = []
    checks: list[Callable[[], None]] = [
        lambda: assert_close(torch.zeros(2), torch.ones(2), what=what),
        lambda: assert_shape(torch.zeros(2), (3,), what=what),
        lambda: assert_finite(torch.tensor([1.0, float("nan")]), what=what),
    ]
    for check in checks:
        with pytest.raises(AssertionError) as raised:
            check()
        failures.append(str(raised.value))
    for message in failures:
        assert message.startswith(what)
        assert not any(verb in message for verb in (" differs ", " has shape", " contains "))
    assert "at index (0,) you have 0, expected 1" in failures[0]


def test_the_recorder_sees_the_weights_inside_scaled_dot_product_attention() -> None:
    from tutor.kit.capture import SoftmaxRecorder

    generator = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 2, 4, 8, generator=generator) for _ in range(3))
    with SoftmaxRecorder() as recorder:
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    (weights,) = recorder.seen
    scores = q @ k.transpose(-2, -1) / 8**0.5
    scores = scores.masked_fill(torch.ones(4, 4, dtype=torch.bool).triu(1), float("-inf"))
    assert torch.allclose(weights, torch.softmax(scores, dim=-1), atol=1e-6)
