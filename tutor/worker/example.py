"""The smallest input on which the learner's code and the reference differ, worked through.

Starting from a call of the tests on which the two sides differ, ``smallest_example``
shrinks it while they still differ: every size the inputs use (batch, tokens, features,
heads) is tried smaller, from 1 upwards, everywhere it occurs at once (in every tensor
dimension of that size, and in every whole-number argument equal to it, such as
``n_embd``), biggest size first, until no size shrinks. Then the inputs and the
parameters are replaced by small round numbers, if the difference survives. The last
call is run once more on each side with a ``StageRecorder``, and the stages go out as an
``Example``.
"""

from __future__ import annotations

import inspect
import time
import zlib
from collections.abc import Callable
from typing import Any

import torch

from tutor.core.protocol import STAGES, Example, NamedNumbers, Numbers, Stage
from tutor.worker.pair import Call, Outputs, Pair, agree, outputs_differ, tensors
from tutor.worker.stages import StageRecorder

MAX_TRIES = 400
ROUND_SEEDS = (0, 1, 2, 3)


def resized(value: Any, old: int, new: int) -> Any:
    """``value`` with every tensor dimension of size ``old`` cut to its first ``new``
    entries, and every whole number equal to ``old`` made ``new``."""
    if isinstance(value, torch.Tensor):
        for dim, size in enumerate(value.shape):
            if size == old:
                value = value.narrow(dim, 0, new)
        return value.clone()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return new if value == old else value
    if isinstance(value, tuple):
        return tuple(resized(item, old, new) for item in value)
    if isinstance(value, list):
        return [resized(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: resized(item, old, new) for key, item in value.items()}
    return value


def resized_call(call: Call, old: int, new: int) -> Call:
    init = None
    if call.init is not None:
        init = (resized(call.init[0], old, new), resized(call.init[1], old, new))
    return Call(call.name, resized(call.args, old, new), resized(call.kwargs, old, new), init)


def one_sequence(call: Call) -> Call:
    """The call on the first sequence of the batch alone: every tensor of three or more
    dimensions cut to its first entry along the first (``call`` itself if none is)."""
    if not any(t.dim() >= 3 and t.shape[0] > 1 for t in call.input_tensors()):
        return call

    def first(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() >= 3 and value.shape[0] > 1:
            return value.narrow(0, 0, 1).clone()
        if isinstance(value, tuple | list):
            return type(value)(first(item) for item in value)
        if isinstance(value, dict):
            return {key: first(item) for key, item in value.items()}
        return value

    return call.with_inputs(first(call.args), first(call.kwargs))


def sizes(call: Call) -> list[int]:
    """The sizes the call's tensors have, above 1, biggest first."""
    found = {size for tensor in call.input_tensors() for size in tensor.shape if size > 1}
    return sorted(found, reverse=True)


def rounded(value: Any, seed: int) -> Any:
    """Float tensors replaced by whole numbers from -1 to 2 (the same for the same seed and
    shape); masks, token ids and everything else kept."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return value
        generator = torch.Generator().manual_seed(seed)
        return torch.randint(-1, 3, tuple(value.shape), generator=generator).to(value.dtype)
    if isinstance(value, tuple):
        return tuple(rounded(item, seed + n) for n, item in enumerate(value))
    if isinstance(value, list):
        return [rounded(item, seed + n) for n, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: rounded(item, seed + n) for n, (key, item) in enumerate(value.items())}
    return value


def round_parameters(module: Any) -> None:
    """Give every parameter halves from -1 to 1, drawn from a seed made of its name."""
    if not isinstance(module, torch.nn.Module):
        return
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            halves = torch.randint(-2, 3, tuple(parameter.shape), generator=generator) / 2
            parameter.copy_(halves.to(parameter.dtype))


class Search:
    """Runs candidate calls on both sides, within a budget of tries and time."""

    def __init__(self, pair: Pair, deadline: float) -> None:
        self.pair = pair
        self.deadline = deadline
        self.tries = 0

    @property
    def spent(self) -> bool:
        return self.tries >= MAX_TRIES or time.monotonic() > self.deadline

    def differs(self, call: Call, adjust: Callable[[Any], None] | None = None) -> bool:
        """Whether both sides run on ``call`` and give other numbers."""
        self.tries += 1
        try:
            return outputs_differ(self.pair.run(call, adjust=adjust))
        except Exception:  # noqa: BLE001 - a candidate either side cannot run is no example
            return False

    def shrink(self, call: Call) -> Call:
        """The call with every size as small as it goes while the two sides still differ."""
        shrinking = True
        while shrinking and not self.spent:
            shrinking = False
            single = one_sequence(call)
            if single is not call and self.differs(single):
                call = single
            for size in sizes(call):
                smaller = next(
                    (
                        candidate
                        for new in range(1, size)
                        if not self.spent
                        and self.differs(candidate := resized_call(call, size, new))
                    ),
                    None,
                )
                if smaller is not None:
                    call, shrinking = smaller, True
                    break
        return call

    def round_values(self, call: Call) -> Call:
        """The call with small whole numbers as inputs, if the difference survives them."""
        for seed in ROUND_SEEDS:
            if self.spent:
                break
            candidate = call.with_inputs(rounded(call.args, seed), rounded(call.kwargs, seed))
            if self.differs(candidate):
                return candidate
        return call


def smallest_example(pair: Pair, calls: list[Call], deadline: float) -> Example | None:
    """The smallest input found where the two sides differ, stage by stage; ``None`` when
    none of ``calls`` differs. Stops shrinking at ``deadline`` (``time.monotonic``)."""
    search = Search(pair, deadline)
    start = next((call for call in calls if search.differs(call)), None)
    if start is None:
        return None
    call = search.round_values(search.shrink(start))
    adjust: Callable[[Any], None] | None = round_parameters
    if call.init is None or not search.differs(call, adjust):
        adjust = None
    mine, theirs = StageRecorder(), StageRecorder()
    try:
        outputs = pair.run(call, mine, theirs, adjust=adjust)
    except Exception:  # noqa: BLE001 - it ran a moment ago; if not now, there is no example
        return None
    return worked(call, start, outputs, (mine, theirs), pair.reference)


def worked(
    call: Call,
    start: Call,
    outputs: Outputs,
    recorders: tuple[StageRecorder, StageRecorder],
    module: Any,
) -> Example:
    """The event: the call, its inputs, and both sides' stages with the first difference."""
    reference = recorders[1].stages()
    weights = reference.get("weights")
    learner = recorders[0].stages(tuple(weights.shape) if weights is not None else None)
    output_mine, output_theirs = tensors(outputs.learner), tensors(outputs.reference)
    if output_mine and output_theirs:
        learner["output"], reference["output"] = output_mine[0], output_theirs[0]
    stages = []
    for name in STAGES:
        left, right = learner.get(name), reference.get(name)
        if left is None and right is None:
            continue
        differs = left is None or right is None or not agree(left, right)
        stages.append(Stage(name, numbers(left), numbers(right), differs))
    first = next((stage.name for stage in stages if stage.differs), "")
    names = argument_names(call, module)
    inputs = [
        NamedNumbers(name, as_numbers(value))
        for name, value in zip(names, [*call.args, *call.kwargs.values()], strict=False)
        if isinstance(value, torch.Tensor)
    ]
    return Example(
        run_id=0,
        call=as_code(call, names, module),
        shrunk_from=shapes(start, argument_names(start, module)),
        inputs=inputs,
        stages=stages,
        first_difference=first,
        summary=summary(call, stages, first),
    )


def numbers(value: torch.Tensor | None) -> Numbers | None:
    return None if value is None else as_numbers(value)


def as_numbers(value: torch.Tensor) -> Numbers:
    """A tensor as plain numbers: floats in double precision, booleans kept."""
    tensor = value.detach().cpu()
    if tensor.dtype != torch.bool:
        tensor = tensor.double()
    return Numbers(shape=list(tensor.shape), values=tensor.tolist())


def argument_names(call: Call, module: Any) -> list[str]:
    """The names of the call's inputs, from the reference's signature (arg1, arg2, ...
    where it has none to give)."""
    target = getattr(module, call.name, None)
    if call.init is not None:
        target = getattr(target, "forward", None)
    return positional_names(target, len(call.args), skip_self=call.init is not None) + list(
        call.kwargs
    )


def positional_names(target: Any, count: int, *, skip_self: bool) -> list[str]:
    """The first ``count`` positional parameter names of ``target``, padded with argN."""
    try:
        parameters = [
            p.name
            for p in inspect.signature(target).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        parameters = []
    if skip_self and parameters[:1] == ["self"]:
        parameters = parameters[1:]
    names = parameters[:count]
    return names + [f"arg{n + 1}" for n in range(len(names), count)]


def as_code(call: Call, names: list[str], module: Any) -> str:
    """The call as a learner would write it: ``SimpleAttention(n_embd=2)(x)``."""
    inputs = [
        name if isinstance(value, torch.Tensor) else f"{name}={value!r}"
        for name, value in zip(names, [*call.args, *call.kwargs.values()], strict=False)
    ]
    if call.init is None:
        return f"{call.name}({', '.join(inputs)})"
    args, kwargs = call.init
    init_names = positional_names(
        getattr(getattr(module, call.name, None), "__init__", None), len(args), skip_self=True
    )
    built = [f"{name}={value!r}" for name, value in zip(init_names, args, strict=True)]
    built += [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{call.name}({', '.join(built)})({', '.join(inputs)})"


def shapes(call: Call, names: list[str]) -> str:
    """The call's tensor inputs with their shapes: ``x (2, 5, 8)``."""
    return ", ".join(
        f"{name} {tuple(value.shape)}"
        for name, value in zip(names, [*call.args, *call.kwargs.values()], strict=False)
        if isinstance(value, torch.Tensor)
    )


SAID = {
    "scores": "the scores differ",
    "scaled": "the scaled scores differ",
    "masked": "the masked scores differ",
    "weights": "the weights differ",
    "output": "the output differs",
}


def summary(call: Call, stages: list[Stage], first: str) -> str:
    """One line: how small the input is and where the two sides part ways."""
    found = call.input_tensors()
    size = ""
    if found and found[0].dim() >= 2:
        shape = found[0].shape
        tokens, features = shape[-2], shape[-1]
        batch = int(torch.tensor(shape[:-2]).prod().item()) if len(shape) > 2 else 1
        size = (
            f"with {batch} sequence{'s' * (batch != 1)} of {tokens} "
            f"token{'s' * (tokens != 1)} and {features} feature{'s' * (features != 1)}, "
        )
    if not first:
        return f"{size}the outputs differ"
    stage = next(s for s in stages if s.name == first)
    if stage.learner is None:
        return f"{size}your code has no {first} step where the reference has one"
    if stage.reference is None:
        return f"{size}your code has a {first} step the reference does not take"
    mine = torch.tensor(stage.learner.values, dtype=torch.float64)
    theirs = torch.tensor(stage.reference.values, dtype=torch.float64)
    if mine.shape != theirs.shape:
        return (
            f"{size}{SAID[first]} first: yours have shape {tuple(mine.shape)}, "
            f"the reference's {tuple(theirs.shape)}"
        )
    gap = (mine - theirs).abs().nan_to_num(nan=float("inf"))
    at = [int(i) for i in torch.unravel_index(torch.argmax(gap), gap.shape)]
    while len(at) > 2 and at[0] == 0:
        at = at[1:]  # the first sequence (and head) of a one-sequence example goes unsaid
    place = f"row {at[-2]}, column {at[-1]}" if len(at) >= 2 else f"position {at}"
    if len(at) > 2:
        place += f" of {at[:-2]}"
    return (
        f"{size}{SAID[first]} first: yours has {mine.flatten()[int(torch.argmax(gap))]:.2f} "
        f"at {place}, the reference {theirs.flatten()[int(torch.argmax(gap))]:.2f}"
    )
