"""Capture attention weights from the learner's own forward pass, and from the reference.

An exercise opts in with a ``probe.py`` beside its tests:

    TOKENS = ["The", "cat", "sat", "on", "the", "mat"]   # query labels
    KEYS = [...]                                          # key labels (default: TOKENS)
    CAUSAL = True                                         # optional: mark weight on the future
    STEPS = ["Q = x W_q", ...]                            # optional: the lesson's step names

    def weights(problem):      # problem: the learner's module (or the reference)
        ...                    # build fixed inputs and parameters, call the learner's code
        return w               # (Tq, Tk) or (heads, Tq, Tk) tensor

``STEPS`` names, in order, the steps the shape trace records while ``weights`` runs the
reference (its projections, products, masks and softmaxes), as the lesson calls them; without
it the trace shows the operations' own names.

A probe of a model with many heads may also name them and say what they do:

    HEADS = ["L1 H1", ...]                                # a name for each head of the picture
    ROLES = {"prev-token": "how its score is made", ...}  # the jobs a head can be seen doing

    def scores(problem):       # per job, one score from 0 to 1 for each head of the picture
        return {"prev-token": [...], ...}

    def notes(problem):        # lines about the learner's module, shown with the picture
        return ["held-out loss ...", ...]

A probe imports its helpers from ``tutor.kit``: ``captured_softmax`` when the exercise's
interface returns only the output (it records the last softmax the learner's code computes),
and ``fixed_parameters`` to give a module the same weights in the learner's run and the
reference's.
"""

from __future__ import annotations

import importlib.util
import math
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from tutor.core.protocol import HeadScore, MutantSpec, ProbeResult
from tutor.kit.capture import SOFTMAXES, CallObserver
from tutor.worker.plugin import short_message

TRACED: dict[Callable[..., Any], str] = {
    torch.nn.functional.linear: "linear",
    torch.matmul: "matmul",
    torch.Tensor.matmul: "matmul",
    torch.Tensor.__matmul__: "matmul",
    torch.bmm: "matmul",
    torch.einsum: "einsum",
    torch.Tensor.masked_fill: "masked_fill",
    torch.Tensor.masked_fill_: "masked_fill",
    torch.where: "where",
    torch.nn.functional.scaled_dot_product_attention: "sdpa",
    **{softmax: "softmax" for softmax in SOFTMAXES},
}
TRACE_STEPS = 24


class ShapeTracer(CallObserver):
    """Notes the shape each projection, product, mask and softmax produces, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []

    def observe(self, func: Callable[..., Any], result: Any) -> None:
        name = TRACED.get(func)
        if name and isinstance(result, torch.Tensor) and len(self.steps) < TRACE_STEPS:
            self.steps.append(f"{name} {tuple(result.shape)}")


def load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_heads(weights: object) -> list[list[list[float]]]:
    """(Tq, Tk) or (heads, Tq, Tk), first batch item if there is one, as nested lists."""
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"the weights should be a tensor, not {type(weights).__name__}")
    tensor = weights.detach().to(torch.float64).cpu()
    while tensor.dim() > 3:
        tensor = tensor[0]
    if tensor.dim() == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 3:
        raise ValueError(f"the weights have shape {tuple(weights.shape)}, not (..., T, T)")
    values: list[list[list[float]]] = tensor.tolist()
    return values


def capture(probe: types.ModuleType, module: types.ModuleType) -> list[list[list[float]]]:
    return traced(probe, module, ShapeTracer())


def traced(
    probe: types.ModuleType, module: types.ModuleType, tracer: ShapeTracer
) -> list[list[list[float]]]:
    """The module's weights on the probe's example, noting the shapes on the way."""
    torch.manual_seed(0)
    with torch.no_grad(), tracer:
        result = probe.weights(module)
    return as_heads(result)


def close(a: list[list[list[float]]], b: list[list[list[float]]]) -> bool:
    """Equal up to rounding; a NaN equals a NaN in the same place (the same rows broke)."""
    left, right = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    return left.shape == right.shape and bool(
        torch.allclose(left, right, atol=1e-4, rtol=1e-3, equal_nan=True)
    )


def diagnose(
    probe: types.ModuleType, mine: list[list[list[float]]], mutants: Sequence[MutantSpec]
) -> tuple[str, str]:
    """The misconception whose mutant gives exactly the learner's weights, if exactly one does."""
    matches = []
    for number, mutant in enumerate(mutants):
        try:
            theirs = capture(probe, load(Path(mutant.path), f"attn_mutant_{number}"))
        except BaseException:  # noqa: BLE001 - a mutant that cannot run matches nothing
            continue
        if close(mine, theirs):
            matches.append(mutant)
    if len({m.misconception for m in matches}) != 1:
        return "", ""  # no match, or mutants the example cannot tell apart: say nothing
    found = matches[0]
    return f"Your weights match a known mistake: {found.misconception}.", found.hint or ""


def _names(steps: object) -> list[str]:
    """A probe's STEPS as strings; anything but a list or tuple of them counts as none."""
    if not isinstance(steps, list | tuple):
        return []
    return [str(name) for name in steps]


def _meanings(roles: object) -> dict[str, str]:
    """A probe's ROLES as text; anything but a dict counts as none."""
    if not isinstance(roles, dict):
        return {}
    return {str(role): str(meaning) for role, meaning in roles.items()}


def head_scores(probe: types.ModuleType, module: types.ModuleType) -> list[HeadScore]:
    """The probe's scores of each head of ``module``, per job; none when it has none to give.

    Learner code runs here: anything it raises costs only the scores, and a score that is
    not a finite number (a NaN from broken weights) is left out.
    """
    measure = getattr(probe, "scores", None)
    if not callable(measure):
        return []
    try:
        torch.manual_seed(0)
        with torch.no_grad():
            found = measure(module)
        scores = [
            HeadScore(head=head, role=str(role), score=float(score))
            for role, values in dict(found).items()
            for head, score in enumerate(values)
        ]
    except BaseException:  # noqa: BLE001 - learner code may raise anything, even SystemExit
        return []
    return [s for s in scores if math.isfinite(s.score)]


def probe_notes(probe: types.ModuleType, module: types.ModuleType) -> list[str]:
    """The probe's lines about ``module``; a line that says what went wrong if it fails."""
    write = getattr(probe, "notes", None)
    if not callable(write):
        return []
    try:
        torch.manual_seed(0)
        with torch.no_grad():
            return [str(line) for line in write(module)]
    except BaseException as error:  # noqa: BLE001 - learner code may raise anything
        return [f"no notes: {short_message(error)}"]


def run_probe(
    probe_path: Path,
    learner: types.ModuleType | None,
    solution: Path | None,
    mutants: Sequence[MutantSpec] = (),
) -> ProbeResult:
    """The probe's verdict on both modules; a failure becomes a note, never an exception."""
    probe = load(probe_path, "attn_probe")
    queries = [str(t) for t in probe.TOKENS]
    keys = [str(t) for t in getattr(probe, "KEYS", queries)]
    allowed = None
    if getattr(probe, "CAUSAL", False):
        allowed = [[j <= i for j in range(len(keys))] for i in range(len(queries))]
    step_names = _names(getattr(probe, "STEPS", None))
    mine, problem = None, ""
    learner_trace, reference_trace = ShapeTracer(), ShapeTracer()
    if learner is None:
        problem = "your file could not be imported"
    else:
        try:
            mine = traced(probe, learner, learner_trace)
        except BaseException as error:  # noqa: BLE001 - learner code may even sys.exit()
            problem = f"nothing captured: {short_message(error)}"
    reference, reference_scores = None, []
    if solution is not None:
        try:
            reference_module = load(solution, "attn_reference")
            reference = traced(probe, reference_module, reference_trace)
            reference_scores = head_scores(probe, reference_module)
        except BaseException as error:  # noqa: BLE001 - a broken reference is reported
            problem = problem or f"the reference failed: {short_message(error)}"
    mine_scores, notes = [], []
    if learner is not None and mine is not None:
        mine_scores, notes = head_scores(probe, learner), probe_notes(probe, learner)
    diagnosis, hint = "", ""
    if mine is not None and reference is not None and not close(mine, reference):
        diagnosis, hint = diagnose(probe, mine, mutants)
    return ProbeResult(
        run_id=0,
        diagnosis=diagnosis,
        diagnosis_hint=hint,
        learner_trace=learner_trace.steps,
        reference_trace=reference_trace.steps,
        step_names=step_names,
        head_names=_names(getattr(probe, "HEADS", None)),
        head_scores=mine_scores,
        reference_head_scores=reference_scores,
        role_meanings=_meanings(getattr(probe, "ROLES", None)),
        notes=notes,
        queries=queries,
        keys=keys,
        learner=mine,
        reference=reference,
        allowed=allowed,
        problem=problem,
    )
