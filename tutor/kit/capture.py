"""Helpers for ``probe.py``: pull attention weights out of code that only returns outputs.

``captured_softmax`` records the softmaxes a call computes and hands back the last one;
``fixed_parameters`` seeds a module's weights from their names, so the learner's module
and the reference compute with identical parameters.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["SOFTMAXES", "SoftmaxRecorder", "captured_softmax", "fixed_parameters"]

SOFTMAXES = {torch.softmax, torch.Tensor.softmax, torch.nn.functional.softmax}


class CallObserver(TorchFunctionMode):
    """Sees every torch function a block calls, with its result; ``observe`` decides what to
    keep. The call itself runs unchanged."""

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        result = func(*args, **(kwargs or {}))
        self.observe(func, result)
        return result

    def observe(self, func: Callable[..., Any], result: Any) -> None:
        """Called after each torch function, with what it returned."""


class SoftmaxRecorder(CallObserver):
    """Keeps the output of every softmax with a (..., T, T)-like shape."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def observe(self, func: Callable[..., Any], result: Any) -> None:
        if func in SOFTMAXES and isinstance(result, torch.Tensor) and result.dim() >= 2:
            self.seen.append(result.detach().clone())


def captured_softmax(run: Callable[[], object]) -> torch.Tensor:
    """Run ``run`` and return the last softmax it computed; ValueError if there was none."""
    with SoftmaxRecorder() as recorder:
        run()
    if not recorder.seen:
        raise ValueError("no softmax was computed, so there are no weights to show")
    last: torch.Tensor = recorder.seen[-1]
    return last


def fixed_parameters(module: torch.nn.Module, scale: float = 0.5) -> torch.nn.Module:
    """Give every parameter values that depend only on its name and shape.

    The learner's module and the reference then hold the same weights, whatever order
    their layers were created in, so their pictures are comparable.
    """
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            seed = zlib.crc32(name.encode())
            generator = torch.Generator().manual_seed(seed)
            fresh = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.copy_(fresh * scale)
    return module
