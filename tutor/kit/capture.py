"""Helpers for ``probe.py``: pull attention weights out of code that only returns outputs.

``captured_softmax`` records the softmaxes a call computes and hands back the last one;
``fixed_parameters`` seeds a module's weights from their names, so the learner's module
and the reference compute with identical parameters.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = [
    "SOFTMAXES",
    "SoftmaxRecorder",
    "captured_softmax",
    "fixed_parameters",
    "sdpa_stages",
    "sdpa_weights",
]

SOFTMAXES: set[Callable[..., Any]] = {
    torch.softmax,
    torch.Tensor.softmax,
    torch.nn.functional.softmax,
}
SDPA = torch.nn.functional.scaled_dot_product_attention


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
        self.observe_call(func, args, kwargs or {}, result)
        return result

    def observe_call(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
    ) -> None:
        """Called after each torch function, with its arguments and what it returned."""
        self.observe(func, result)

    def observe(self, func: Callable[..., Any], result: Any) -> None:
        """Called after each torch function, with what it returned."""


class SoftmaxRecorder(CallObserver):
    """Keeps the output of every softmax with a (..., T, T)-like shape, and the weights
    inside every ``scaled_dot_product_attention``, which returns only its output."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def observe_call(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
    ) -> None:
        if func is SDPA:
            with torch._C.DisableTorchFunction():
                self.seen.append(sdpa_weights(*args, **kwargs))
        elif func in SOFTMAXES and isinstance(result, torch.Tensor) and result.dim() >= 2:
            self.seen.append(result.detach().clone())


def sdpa_weights(*args: Any, **kwargs: Any) -> torch.Tensor:
    """The weights ``scaled_dot_product_attention`` applies to ``value`` (without dropout),
    from the same arguments: softmax(q k^T * scale + mask) over the keys."""
    return sdpa_stages(*args, **kwargs)["weights"].to(args[0].dtype)


def sdpa_stages(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor | None = None,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> dict[str, torch.Tensor]:
    """What ``scaled_dot_product_attention`` computes inside, in float64, worked out from its
    arguments: ``scores`` (q k^T), ``scaled``, ``masked`` (only when there is a mask) and
    ``weights`` (the softmax over the keys; dropout left out)."""
    del value, dropout_p
    q, k = query.detach().double(), key.detach().double()
    if enable_gqa and q.dim() >= 3 and q.shape[-3] != k.shape[-3]:
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
    stages = {"scores": q @ k.transpose(-2, -1)}
    scaled = stages["scores"] * (scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))
    stages["scaled"] = masked = scaled
    if is_causal:
        keep = torch.ones(scaled.shape[-2], scaled.shape[-1], dtype=torch.bool).tril()
        masked = masked.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            masked = masked.masked_fill(~attn_mask, float("-inf"))
        else:
            masked = masked + attn_mask.double()
    if is_causal or attn_mask is not None:
        stages["masked"] = masked
    stages["weights"] = torch.softmax(masked, dim=-1)
    return stages


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
