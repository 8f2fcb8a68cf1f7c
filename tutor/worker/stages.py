"""The steps of one attention computation, as the code really took them.

A ``StageRecorder`` watches the torch calls a piece of code makes and keeps, for the last
attention it computes, the scores (the product of queries and keys), the scaled scores,
the masked scores and the weights (the softmax). Code that calls
``scaled_dot_product_attention`` does all four inside it, so they are worked out from its
arguments. A step the code never takes (no scaling at all, say) is simply absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from tutor.kit.capture import SDPA, SOFTMAXES, CallObserver, sdpa_stages

PRODUCTS: set[Callable[..., Any]] = {
    torch.matmul,
    torch.Tensor.matmul,
    torch.Tensor.__matmul__,
    torch.bmm,
    torch.einsum,
}
SCALINGS: set[Callable[..., Any]] = {
    torch.mul,
    torch.div,
    torch.true_divide,
    torch.Tensor.mul,
    torch.Tensor.div,
    torch.Tensor.__mul__,
    torch.Tensor.__rmul__,
    torch.Tensor.__truediv__,
    torch.Tensor.__itruediv__,
    torch.Tensor.__imul__,
    torch.Tensor.mul_,
    torch.Tensor.div_,
}
MASKINGS: set[Callable[..., Any]] = {
    torch.Tensor.masked_fill,
    torch.Tensor.masked_fill_,
    torch.where,
    torch.add,
    torch.Tensor.add,
    torch.Tensor.__add__,
    torch.Tensor.__radd__,
    torch.Tensor.__iadd__,
    torch.Tensor.add_,
    torch.Tensor.__sub__,
    torch.sub,
}
KINDS: dict[Callable[..., Any], str] = {
    **dict.fromkeys(PRODUCTS, "scores"),
    **dict.fromkeys(SCALINGS, "scaled"),
    **dict.fromkeys(MASKINGS, "masked"),
    **{softmax: "weights" for softmax in SOFTMAXES},
}


@dataclass(frozen=True)
class Step:
    kind: str  # scores, scaled, masked, weights
    value: torch.Tensor


class StageRecorder(CallObserver):
    """Keeps every product, scaling, masking and softmax, with its result, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Step] = []

    def observe_call(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
    ) -> None:
        if func is SDPA:
            with torch._C.DisableTorchFunction():
                self.steps.extend(sdpa_steps(*args, **kwargs))
            return
        kind = KINDS.get(func)
        if kind is not None and isinstance(result, torch.Tensor) and result.dim() >= 2:
            self.steps.append(Step(kind, result.detach().double().clone()))

    def stages(self, like: tuple[int, ...] | None = None) -> dict[str, torch.Tensor]:
        """The last attention's scores, scaled, masked and weights, those the code took.

        The weights are the last softmax; the other steps are the calls before it whose
        result has the weights' shape, after the last product of that shape. Code with no
        softmax at all is read the same way with the shape ``like`` (the reference's
        weights), up to its end.
        """
        last = max((i for i, s in enumerate(self.steps) if s.kind == "weights"), default=None)
        if last is None and like is None:
            return {}
        shape = tuple(self.steps[last].value.shape) if last is not None else like
        end = last if last is not None else len(self.steps)
        same = [(i, s) for i, s in enumerate(self.steps[:end]) if tuple(s.value.shape) == shape]
        products = [i for i, s in same if s.kind == "scores"]
        # Before a softmax, the last product is the scores; without one, the last product
        # is more likely the output (weights times values), so the first is taken.
        start = (products[-1] if last is not None else products[0]) if products else None
        found: dict[str, torch.Tensor] = {}
        if start is not None:
            found["scores"] = self.steps[start].value
            for i, step in same:
                if i > start and step.kind in ("scaled", "masked") and step.kind not in found:
                    found[step.kind] = step.value
        if last is not None:
            found["weights"] = self.steps[last].value
        return found


def sdpa_steps(*args: Any, **kwargs: Any) -> list[Step]:
    """The steps ``scaled_dot_product_attention`` takes inside, worked out from its inputs."""
    return [Step(kind, value) for kind, value in sdpa_stages(*args, **kwargs).items()]
