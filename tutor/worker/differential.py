"""Judge by behaviour: replay the calls the tests made on the learner's code and the reference.

While the tests run, a ``Recorder`` notes the calls they make to the names the learner's
module defines: its functions, and its classes (the arguments each instance was built with,
then each call of the instance). Only the outermost call is noted (not the learner's own
helpers calling each other), only when it returned, with copies of its inputs taken before
the call, one per kind of call (name, shapes, constructor arguments), at most ``MAX_CALLS``.

After the tests, ``compare`` replays the noted calls, smallest first, on the learner's code
and on the reference (``tutor.worker.pair``: fresh instances, the learner's parameters in
both, eval mode, a fixed seed). A call on which they give other numbers is a difference; if
every test passed, it turns the verdict into ``Verdict.DIFFERS``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import time
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from tutor.core.protocol import RunFinished, Verdict
from tutor.worker.pair import Call, Mismatch, Outputs, Pair, agree, outputs_differ, tensors

MAX_CALLS = 32
COMPARE_SECONDS = 2.0  # at most this long replaying, whatever the run's timeout leaves
INIT_ARGS = "__attn_tutor_init__"


def defined_in(module: types.ModuleType) -> dict[str, Any]:
    """The public functions and classes the module itself defines (not those it imports)."""
    found: dict[str, Any] = {}
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(value, types.FunctionType | type) and (
            getattr(value, "__module__", None) == module.__name__
        ):
            found[name] = value
    return found


def shape_key(value: Any) -> Any:
    """What makes two calls the same kind: tensors by shape and type, the rest by value."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), str(value.dtype))
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(shape_key(item) for item in value))
    if isinstance(value, dict):
        return tuple(sorted((str(k), shape_key(v)) for k, v in value.items()))
    if isinstance(value, int | float | bool | str | type(None)):
        return value
    return type(value).__name__


def size_of(call: Call) -> int:
    """How many numbers a call's inputs hold: the smallest calls are replayed first."""
    return sum(t.numel() for t in call.input_tensors())


@dataclass
class Recorder:
    """Notes the calls the tests make to what the learner's module defines."""

    module: types.ModuleType
    calls: dict[Any, Call] = field(default_factory=dict)
    depth: int = 0
    active: bool = True  # off once the tests are over: replays are not noted
    inits: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], dict[str, Any]]] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def install(self) -> None:
        """Wrap the module's functions and its classes' construction and calls."""
        for name, value in defined_in(self.module).items():
            if isinstance(value, type):
                self.wrap_class(name, value)
            else:
                setattr(self.module, name, self.wrap_function(name, value))

    def wrap_function(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            return self.observe(name, None, function, args, kwargs)

        return recorded

    def wrap_class(self, name: str, cls: type) -> None:
        init = cls.__init__  # type: ignore[misc]
        # The class's own __call__ (nn.Module has one), not type.__call__, which builds it.
        call = next((vars(k)["__call__"] for k in cls.__mro__ if "__call__" in vars(k)), None)
        recorder = self

        @functools.wraps(init)
        def recorded_init(instance: Any, *args: Any, **kwargs: Any) -> None:
            try:
                kept = (copy.deepcopy(args), copy.deepcopy(kwargs))
            except Exception:  # noqa: BLE001 - what cannot be copied cannot be replayed
                kept = None
            recorder.depth += 1
            try:
                init(instance, *args, **kwargs)
            finally:
                recorder.depth -= 1
            if kept is not None and type(instance) is cls:
                # An instance without weak references: its calls are not replayed.
                with contextlib.suppress(TypeError):
                    recorder.inits[instance] = kept

        cls.__init__ = recorded_init  # type: ignore[misc]
        if not isinstance(call, types.FunctionType):
            return

        @functools.wraps(call)
        def recorded_call(instance: Any, *args: Any, **kwargs: Any) -> Any:
            built = recorder.inits.get(instance) if type(instance) is cls else None
            bound = functools.partial(call, instance)
            return recorder.observe(name, built, bound, args, kwargs)

        cls.__call__ = recorded_call  # type: ignore[method-assign]

    def observe(
        self,
        name: str,
        init: tuple[tuple[Any, ...], dict[str, Any]] | None,
        target: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Call ``target``, noting the call when it is outermost, new and returns."""
        kept: Call | None = None
        key: Any = None
        if self.active and self.depth == 0 and len(self.calls) < MAX_CALLS:
            try:
                key = (name, shape_key(args), shape_key(kwargs), shape_key(init))
                if key not in self.calls:
                    kept = Call(name, copy.deepcopy(args), copy.deepcopy(kwargs), init)
            except Exception:  # noqa: BLE001 - an input that cannot be copied is not kept
                kept = None
        self.depth += 1
        try:
            result = target(*args, **kwargs)
        finally:
            self.depth -= 1
        if kept is not None:
            self.calls[key] = kept
        return result

    def recorded(self) -> list[Call]:
        """The noted calls, those whose class instance was built in view; smallest first."""
        calls = [
            call
            for call in self.calls.values()
            if call.init is not None or not isinstance(getattr(self.module, call.name), type)
        ]
        return sorted(calls, key=size_of)


@dataclass(frozen=True)
class Difference:
    """A call on which the learner's code and the reference give other numbers."""

    call: Call
    outputs: Outputs

    def where(self, module: types.ModuleType) -> str:
        """The call, and the first place where the outputs differ most, in words."""
        said = describe(self.call, module)
        left, right = tensors(self.outputs.learner), tensors(self.outputs.reference)
        if not left or not right:
            return said
        for mine, theirs in zip(left, right, strict=False):
            if agree(mine, theirs):
                continue
            if tuple(mine.shape) != tuple(theirs.shape):
                return (
                    f"{said} gives shape {tuple(mine.shape)} where the reference gives "
                    f"{tuple(theirs.shape)}"
                )
            gap = (mine.double() - theirs.double()).abs().nan_to_num(nan=float("inf"))
            flat = int(torch.argmax(gap).item())
            index = list(torch.unravel_index(torch.tensor(flat), gap.shape))
            at = [int(i) for i in index]
            value, expected = mine.double()[tuple(at)].item(), theirs.double()[tuple(at)].item()
            return f"{said} gives {value:.4g} at {at} where the reference gives {expected:.4g}"
        return said


def describe(call: Call, module: types.ModuleType) -> str:
    """A call in the learner's terms: ``SimpleAttention(n_embd=8) on x (2, 5, 8)``, with the
    names of ``module``'s signatures."""
    from tutor.worker.example import argument_names, as_code, shapes

    names = argument_names(call, module)
    said = as_code(call, names, module)
    inputs = shapes(call, names)
    return f"{said} with {inputs}" if inputs else said


@dataclass
class Comparison:
    """What replaying the tests' calls on both sides found."""

    reference: types.ModuleType
    compared: int = 0
    differences: list[Difference] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)  # why some calls could not compare

    def notice(self) -> str:
        """Why nothing could be compared, when nothing was; else empty."""
        if self.compared or not self.mismatches:
            return ""
        return (
            "your code was not compared with the reference: "
            f"{self.mismatches[0]}. The tests' verdict stands."
        )


def compare(pair: Pair, calls: list[Call], deadline: float) -> Comparison:
    """Replay ``calls`` on both sides until ``deadline`` (a ``time.monotonic`` value)."""
    found = Comparison(pair.reference)
    for call in calls:
        if time.monotonic() > deadline:
            break
        try:
            outputs = pair.run(call)
            differs = outputs_differ(outputs)
        except Mismatch as why:
            found.mismatches.append(str(why))
            continue
        except Exception:  # noqa: BLE001 - a side that raises here is not compared
            continue
        found.compared += 1
        if differs and reproducible(pair, call, outputs):
            found.differences.append(Difference(call, outputs))
    return found


def reproducible(pair: Pair, call: Call, outputs: Outputs) -> bool:
    """Whether the reference gives the same numbers again: one that draws random numbers
    where a seed does not reach cannot be matched, and is not held against the learner."""
    try:
        again = pair.run(call)
    except Exception:  # noqa: BLE001
        return False
    first, second = tensors(outputs.reference), tensors(again.reference)
    if first is None or second is None or len(first) != len(second):
        return False
    return all(agree(a, b) for a, b in zip(first, second, strict=True))


def judged(finished: RunFinished, comparison: Comparison) -> RunFinished:
    """The run's verdict once compared: a pass with a difference is not a pass."""
    if finished.verdict is not Verdict.PASSED or not comparison.differences:
        return finished
    where = comparison.differences[0].where(comparison.reference)
    return replace(
        finished,
        verdict=Verdict.DIFFERS,
        message=f"your output differs from the reference on the same input: {where}",
    )


@dataclass
class Replay:
    """The reference, the learner's module and the calls noted while the tests ran."""

    pair: Pair
    recorder: Recorder
    comparison: Comparison | None = None

    def compared(self, deadline: float) -> Comparison:
        """The comparison, made once."""
        if self.comparison is None:
            self.recorder.active = False
            self.comparison = compare(self.pair, self.recorder.recorded(), deadline)
        return self.comparison


def start(learner: types.ModuleType, reference: types.ModuleType) -> Replay:
    """Begin noting the tests' calls to ``learner``, to replay them on ``reference``."""
    recorder = Recorder(learner)
    recorder.install()
    return Replay(Pair(learner, reference), recorder)
