"""The attention picture: captured from the learner's own forward, beside the reference."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import LiveRunner
from tutor.core.catalog import Exercise, builtin_pack, load, read_exercise
from tutor.core.heatmap import Style
from tutor.core.picture import picture
from tutor.core.protocol import ProbeResult

pytestmark = pytest.mark.slow

PACK = builtin_pack()
PROBED = sorted(e.key for e in load(PACK).exercises if (e.path / "probe.py").is_file())


def declared(key: str, name: str, default: object) -> object:
    """A name the exercise's probe.py defines, read without running the worker."""
    path = PACK / key / "probe.py"
    namespace: dict[str, object] = {"__file__": str(path)}  # a probe may find files beside it
    source = path.read_text()
    exec(compile(source, str(path), "exec"), namespace)
    return namespace.get(name, default)


def indistinct(key: str) -> dict[str, str]:
    """Mutants the picture cannot name, as the exercise's probe.py records them, with why."""
    found = declared(key, "INDISTINCT", {})
    assert isinstance(found, dict)
    return found


def probe_of(live: LiveRunner, key: str, problem: Path) -> ProbeResult:
    exercise = read_exercise(PACK / key)
    assert isinstance(exercise, Exercise)
    report = live.run(PACK / key, problem)
    assert report.probe is not None, report.headline()
    return report.probe


def test_probed_exercises_exist() -> None:
    assert {"02-attention-basics", "04-causal-masking", "06-multi-head-attention"} <= set(PROBED)


@pytest.mark.parametrize("key", PROBED)
def test_the_solution_picture_equals_the_reference(live_runner: LiveRunner, key: str) -> None:
    probe = probe_of(live_runner, key, PACK / key / "solution.py")
    assert probe.problem == ""
    assert probe.learner is not None
    assert probe.learner == probe.reference
    assert probe.diagnosis == ""
    for head in probe.learner:
        assert len(head) == len(probe.queries)
        for row in head:
            assert len(row) == len(probe.keys)
            assert abs(sum(row) - 1.0) < 1e-6


@pytest.mark.parametrize("key", PROBED)
def test_each_lesson_step_name_fits_a_traced_step(live_runner: LiveRunner, key: str) -> None:
    """STEPS names the solution's traced steps one for one, so it cannot drift from the code."""
    steps = declared(key, "STEPS", None)
    assert isinstance(steps, list), f"{key}/probe.py declares no STEPS list"
    probe = probe_of(live_runner, key, PACK / key / "solution.py")
    assert len(steps) == len(probe.reference_trace), probe.reference_trace
    assert probe.step_names == steps
    assert all(isinstance(name, str) and name.strip() for name in steps)


@pytest.mark.parametrize("key", PROBED)
def test_the_skeleton_says_why_there_is_no_picture(live_runner: LiveRunner, key: str) -> None:
    probe = probe_of(live_runner, key, PACK / key / "problem.py")
    assert probe.learner is None
    assert probe.problem.startswith("nothing captured: not implemented yet")
    assert probe.reference is not None
    text = picture(probe, width=80, style=Style(color=False)).plain
    assert "nothing captured" in text
    assert "reference" in text


@pytest.mark.parametrize(
    ("key", "mutant"),
    [(e.key, m) for e in load(PACK).exercises if e.key in PROBED for m in e.mutants],
    ids=lambda value: getattr(value, "name", value),
)
def test_each_mutant_is_named_or_left_unnamed(
    live_runner: LiveRunner, key: str, mutant: object
) -> None:
    from tutor.core.catalog import Mutant

    assert isinstance(mutant, Mutant)
    probe = probe_of(live_runner, key, mutant.path)
    if mutant.path.name in indistinct(key):
        assert probe.diagnosis == ""
    else:
        assert probe.diagnosis == f"Your weights match a known mistake: {mutant.misconception}."
        assert probe.diagnosis_hint == (mutant.hint or "")


def test_exercise_01_diagnoses_do_not_depend_on_flush_to_zero() -> None:
    """No value of 01's probe is denormal, so flush-to-zero changes no weight and no diagnosis."""
    import torch

    from tutor.worker import probe as machinery

    key = "01-dot-products-and-softmax"
    exercise = next(e for e in load(PACK).exercises if e.key == key)
    probe = machinery.load(PACK / key / "probe.py", "attn_probe_ftz")

    def pictures() -> dict[str, list[list[list[float]]]]:
        paths = {"solution.py": PACK / key / "solution.py"}
        paths.update({m.path.name: m.path for m in exercise.mutants})
        return {
            name: machinery.capture(probe, machinery.load(path, f"attn_ftz_{number}"))
            for number, (name, path) in enumerate(paths.items())
        }

    def diagnoses(found: dict[str, list[list[list[float]]]]) -> dict[str, str]:
        reference = found["solution.py"]
        return {
            m.path.name: ""
            if machinery.close(found[m.path.name], reference)
            else machinery.diagnose(probe, found[m.path.name], exercise.mutant_specs)[0]
            for m in exercise.mutants
        }

    try:
        torch.set_flush_denormal(False)
        off = pictures()
        off_diagnoses = diagnoses(off)
        if not torch.set_flush_denormal(True):
            pytest.fail("torch.set_flush_denormal(True) returned False: this CPU cannot flush")
        on = pictures()
        on_diagnoses = diagnoses(on)
    finally:
        torch.set_flush_denormal(False)
    assert on_diagnoses == off_diagnoses
    for mutant in exercise.mutants:
        named = f"Your weights match a known mistake: {mutant.misconception}."
        expected = "" if mutant.path.name in indistinct(key) else named
        assert on_diagnoses[mutant.path.name] == expected, mutant.path.name
    for name, weights in off.items():
        torch.testing.assert_close(
            torch.tensor(on[name]), torch.tensor(weights), rtol=0, atol=0, equal_nan=True
        )


def test_a_leak_is_marked_in_the_causal_picture(live_runner: LiveRunner) -> None:
    key = "04-causal-masking"
    probe = probe_of(live_runner, key, PACK / key / "mutants" / "no_mask.py")
    assert probe.allowed is not None
    text = picture(probe, width=100, style=Style(unicode=False, color=False)).plain
    assert "x leak" in text


def test_the_shape_trace_marks_the_first_difference(live_runner: LiveRunner) -> None:
    key = "06-multi-head-attention"
    probe = probe_of(live_runner, key, PACK / key / "mutants" / "keys_not_transposed.py")
    assert probe.learner_trace == ["linear (1, 6, 12)"] * 3  # the product of Q and K failed
    assert probe.reference_trace[3] == "matmul (1, 3, 6, 6)"
    lines = picture(probe, width=100, style=Style(unicode=False, color=False)).plain.splitlines()
    marked = [line for line in lines if "<- first difference" in line]
    assert marked == ["scores = Q_h K_h^T     -           (1, 3, 6, 6) <- first difference"]


def test_a_solution_trace_matches_the_reference(live_runner: LiveRunner) -> None:
    key = "02-attention-basics"
    probe = probe_of(live_runner, key, PACK / key / "solution.py")
    assert probe.learner_trace == probe.reference_trace
    assert probe.learner_trace[:4] == ["linear (1, 6, 8)"] * 3 + ["matmul (1, 6, 6)"]
    assert "first difference" not in picture(probe, width=100).plain


def test_a_relative_pack_path_still_draws_the_reference_and_names_the_mistake(
    live_runner: LiveRunner,
) -> None:
    """The run changes folder before the probe reads the solution and the mutants: paths
    given relative to where the tutor started (``--exercises exercises``) must still reach them."""
    key = "06-multi-head-attention"
    exercise = read_exercise(PACK / key)
    assert isinstance(exercise, Exercise)
    here = Path.cwd()
    relative = Path(os.path.relpath(PACK / key, here))
    assert not relative.is_absolute()
    relative_exercise = read_exercise(relative)
    assert isinstance(relative_exercise, Exercise)
    assert not any(Path(spec.path).is_absolute() for spec in relative_exercise.mutant_specs)
    mutant = relative / "mutants" / "softmax_over_queries.py"
    report = live_runner.run(relative, mutant)
    assert report.probe is not None, report.headline()
    assert report.probe.reference is not None, report.probe.problem
    assert "softmax over the query axis" in report.probe.diagnosis


def test_a_probes_scores_and_notes_never_cost_the_picture(tmp_path: Path) -> None:
    """A NaN score is left out, and notes that raise become one line saying why."""
    import types

    from tutor.worker.probe import run_probe

    probe = tmp_path / "probe.py"
    probe.write_text(
        "import torch\n"
        "TOKENS = ['a', 'b']\n"
        "HEADS = ['L1 H1', 'L1 H2']\n"
        "ROLES = {'job': 'what it does'}\n"
        "def weights(problem):\n"
        "    return torch.tensor([[[1.0, 0.0], [0.5, 0.5]]] * 2)\n"
        "def scores(problem):\n"
        "    return {'job': [0.75, float('nan')]}\n"
        "def notes(problem):\n"
        "    raise ValueError('the model is missing')\n"
    )
    result = run_probe(probe, types.ModuleType("learner"), None)
    assert result.learner is not None
    assert result.head_names == ["L1 H1", "L1 H2"]
    assert [(s.head, s.role, s.score) for s in result.head_scores] == [(0, "job", 0.75)]
    assert result.role_meanings == {"job": "what it does"}
    assert len(result.notes) == 1
    assert result.notes[0].startswith("no notes: ")
    assert "the model is missing" in result.notes[0]
