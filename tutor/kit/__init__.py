"""The API for exercise tests and probes: learner-friendly assertions and weight capture.

It needs torch, so it only ever runs in the test child, never in the tutor's own process.
Exercises import from here and not from ``tutor.worker``, whose insides may change.
"""

from __future__ import annotations

from tutor.kit.assertions import (
    assert_close,
    assert_finite,
    assert_rows_sum_to_one,
    assert_shape,
    closest_match,
    describe_shape,
)
from tutor.kit.capture import SoftmaxRecorder, captured_softmax, fixed_parameters

__all__ = [
    "SoftmaxRecorder",
    "assert_close",
    "assert_finite",
    "assert_rows_sum_to_one",
    "assert_shape",
    "captured_softmax",
    "closest_match",
    "describe_shape",
    "fixed_parameters",
]
