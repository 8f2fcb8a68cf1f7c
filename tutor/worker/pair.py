"""The learner's code and the reference, called the same way with the same parameters.

A ``Call`` is one use of an exercise's entry, as a test made it: a function called with
some arguments, or a class built with some arguments and then called. ``Pair.run`` replays
it on both sides. Each side gets a fresh instance built under the same seed, and the
reference then takes the learner's parameters (not its buffers), so any difference in
what comes out is a difference in what the code computes, not in its weights. Both run in
eval mode (no dropout) without gradients.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

SEED = 0
# Outputs agree when |learner - reference| <= ATOL + RTOL * |reference|, elementwise; a NaN
# agrees with a NaN in the same place. Looser than the kit's assertions: the two sides may
# add in another order, in float32.
ATOL = 1e-4
RTOL = 1e-3


class Mismatch(Exception):
    """The two sides cannot be compared on this call (say why, in the learner's terms)."""


@dataclass(frozen=True)
class Call:
    """One call of a name from the learner's module, to replay on both sides.

    ``init`` is ``None`` for a function; for a class it holds the constructor's arguments,
    and ``args``/``kwargs`` go to the built instance.
    """

    name: str  # the attribute of the module: "SimpleAttention", "attention"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    init: tuple[tuple[Any, ...], dict[str, Any]] | None = None

    def input_tensors(self) -> list[torch.Tensor]:
        """Every tensor among the call's inputs, in order, inside tuples, lists and dicts too;
        other inputs (a window size, a flag) are passed over."""
        found: list[torch.Tensor] = []

        def collect(value: Any) -> None:
            if isinstance(value, torch.Tensor):
                found.append(value)
            elif isinstance(value, tuple | list):
                for item in value:
                    collect(item)
            elif isinstance(value, dict):
                for item in value.values():
                    collect(item)

        collect(self.args)
        collect(self.kwargs)
        return found

    def with_inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        return Call(self.name, args, kwargs, self.init)

    def with_init(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        return Call(self.name, self.args, self.kwargs, (args, kwargs))


@dataclass(frozen=True)
class Outputs:
    """What one call returned on each side."""

    learner: Any
    reference: Any


class Pair:
    """The learner's module and the reference module of one exercise."""

    def __init__(self, learner: types.ModuleType, reference: types.ModuleType) -> None:
        self.learner = learner
        self.reference = reference

    def run(
        self,
        call: Call,
        learner_mode: Any = None,
        reference_mode: Any = None,
        adjust: Callable[[Any], None] | None = None,
    ) -> Outputs:
        """Replay ``call`` on both sides; ``*_mode`` is a context manager (a torch function
        mode, say) entered around that side's call only; ``adjust`` changes the learner's
        instance (its parameters) before the reference takes them. ``Mismatch`` when the
        two sides cannot be compared; any other exception is the code's own."""
        learner_target = getattr(self.learner, call.name, None)
        reference_target = getattr(self.reference, call.name, None)
        if learner_target is None or reference_target is None:
            raise Mismatch(f"{call.name} is not defined on both sides")
        if call.init is None:
            learner_call: Callable[..., Any] = learner_target
            reference_call: Callable[..., Any] = reference_target
        else:
            learner_call, reference_call = self.instances(
                call, learner_target, reference_target, adjust
            )
        with torch.no_grad():
            learner_out = invoke(learner_call, call, learner_mode)
            reference_out = invoke(reference_call, call, reference_mode)
        return Outputs(learner_out, reference_out)

    def instances(
        self,
        call: Call,
        learner_class: Any,
        reference_class: Any,
        adjust: Callable[[Any], None] | None = None,
    ) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """Both classes built with the call's arguments, holding the learner's parameters."""
        assert call.init is not None
        args, kwargs = call.init
        torch.manual_seed(SEED)
        learner = learner_class(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        torch.manual_seed(SEED)
        reference = reference_class(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        if adjust is not None:
            adjust(learner)
        if isinstance(learner, torch.nn.Module) and isinstance(reference, torch.nn.Module):
            share_parameters(learner, reference)
            learner.eval()
            reference.eval()
        return learner, reference


def invoke(target: Callable[..., Any], call: Call, mode: Any) -> Any:
    """Call ``target`` with copies of the call's inputs (the code may change them in place),
    under a fixed seed."""
    args, kwargs = copy.deepcopy(call.args), copy.deepcopy(call.kwargs)
    torch.manual_seed(SEED)
    if mode is None:
        return target(*args, **kwargs)
    with mode:
        return target(*args, **kwargs)


def share_parameters(learner: torch.nn.Module, reference: torch.nn.Module) -> None:
    """Copy the learner's parameters into the reference, by name.

    Buffers (a causal mask, say) stay each side's own: the code builds them, so they are
    part of what is compared, not weights to share.
    """
    theirs = dict(learner.named_parameters())
    ours = dict(reference.named_parameters())
    missing = sorted(set(ours) - set(theirs))
    extra = sorted(set(theirs) - set(ours))
    if missing or extra:
        said = []
        if missing:
            said.append(f"the reference has {', '.join(missing[:3])} and yours does not")
        if extra:
            said.append(f"yours has {', '.join(extra[:3])} and the reference does not")
        raise Mismatch("; ".join(said))
    with torch.no_grad():
        for name, value in theirs.items():
            if tuple(value.shape) != tuple(ours[name].shape):
                raise Mismatch(
                    f"{name} has shape {tuple(value.shape)} in yours and "
                    f"{tuple(ours[name].shape)} in the reference"
                )
            ours[name].copy_(value)


def tensors(value: Any) -> list[torch.Tensor] | None:
    """The tensors in an output, in order (a tensor, or a tuple/list of them); ``None`` for
    anything else, which is not compared."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        found: list[torch.Tensor] = []
        for item in value:
            inner = tensors(item)
            if inner is None:
                return None
            found.extend(inner)
        return found
    return None


def agree(learner: torch.Tensor, reference: torch.Tensor) -> bool:
    """Same shape and the same values up to ``ATOL``/``RTOL``; NaN matches NaN."""
    if tuple(learner.shape) != tuple(reference.shape):
        return False
    if learner.dtype == torch.bool or reference.dtype == torch.bool:
        return bool(torch.equal(learner.bool(), reference.bool()))
    return bool(
        torch.allclose(
            learner.detach().double(),
            reference.detach().double(),
            atol=ATOL,
            rtol=RTOL,
            equal_nan=True,
        )
    )


def outputs_differ(outputs: Outputs) -> bool:
    """Whether the two sides returned different numbers; ``Mismatch`` when their outputs
    are not alike enough to compare (a tensor on one side and a tuple on the other)."""
    left, right = tensors(outputs.learner), tensors(outputs.reference)
    if left is None or right is None:
        raise Mismatch("the output is not a tensor or a tuple of tensors")
    if len(left) != len(right):
        raise Mismatch(f"yours returns {len(left)} tensors and the reference {len(right)}")
    return not all(agree(a, b) for a, b in zip(left, right, strict=True))
