"""The comparison with the reference: what a pack's tests miss, the tutor still catches."""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.conftest import TESTS, LiveRunner
from tutor.core.protocol import Verdict
from tutor.worker.differential import Recorder, compare, start
from tutor.worker.example import smallest_example
from tutor.worker.pair import Call, Pair
from tutor.worker.probe import load

SHAPES_ONLY = TESTS / "packs" / "shapes-only"
ATTENTION = SHAPES_ONLY / "01-attention"
FUNCTION = SHAPES_ONLY / "02-scores"


def variant(tmp_path: Path, exercise: Path, old: str, new: str) -> Path:
    """The exercise's solution with ``old`` written as ``new``: a mistake the tests miss."""
    source = (exercise / "solution.py").read_text()
    assert old in source
    path = tmp_path / "problem.py"
    path.write_text(source.replace(old, new))
    return path


@pytest.mark.slow
def test_the_reference_passes_and_draws_a_picture_without_a_probe(
    live_runner: LiveRunner,
) -> None:
    report = live_runner.run(ATTENTION, ATTENTION / "solution.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.PASSED
    assert report.example is None
    assert report.probe is not None
    assert report.probe.learner is not None
    assert report.probe.reference is not None
    assert report.probe.learner == report.probe.reference
    tokens = len(report.probe.reference[0])
    assert report.probe.queries == [f"t{n}" for n in range(tokens)]
    # One matrix: the first sequence of the batch, since this attention has no heads.
    assert len(report.probe.reference) == 1


@pytest.mark.slow
def test_softmax_over_the_queries_is_not_solved_and_comes_with_the_smallest_example(
    live_runner: LiveRunner, tmp_path: Path
) -> None:
    wrong = variant(tmp_path, ATTENTION, "dim=-1", "dim=-2")
    report = live_runner.run(ATTENTION, wrong)
    assert report.finished is not None
    assert report.finished.passed == report.finished.total == 3  # the pack's tests miss it
    assert report.finished.verdict is Verdict.DIFFERS
    assert not report.finished.verdict.ok
    assert "SimpleAttention(n_embd=" in report.finished.message
    assert "where the reference gives" in report.finished.message
    assert report.headline().startswith("all 3 tests pass, but your output differs")
    example = report.example
    assert example is not None
    assert example.first_difference == "weights"
    (x,) = example.inputs
    batch, tokens, _ = x.numbers.shape
    assert batch == 1
    assert tokens <= 3
    flat = torch.tensor(x.numbers.values).flatten().tolist()
    assert all(value == int(value) and -1 <= value <= 2 for value in flat)
    weights = next(stage for stage in example.stages if stage.name == "weights")
    assert weights.differs
    assert weights.learner is not None
    assert weights.reference is not None
    # The picture shows the learner's weights beside the reference's, and they differ.
    assert report.probe is not None
    assert report.probe.learner != report.probe.reference


@pytest.mark.slow
def test_a_missing_scale_is_caught_at_the_scaled_stage(
    live_runner: LiveRunner, tmp_path: Path
) -> None:
    wrong = variant(tmp_path, ATTENTION, " / q.shape[-1] ** 0.5", "")
    report = live_runner.run(ATTENTION, wrong)
    assert report.finished is not None
    assert report.finished.verdict is Verdict.DIFFERS
    assert report.example is not None
    assert report.example.first_difference == "scaled"
    scaled = next(stage for stage in report.example.stages if stage.name == "scaled")
    assert scaled.learner is None
    assert scaled.reference is not None


@pytest.mark.slow
def test_a_function_exercise_is_compared_too(live_runner: LiveRunner, tmp_path: Path) -> None:
    wrong = variant(tmp_path, FUNCTION, "dim=-1", "dim=-2")
    report = live_runner.run(FUNCTION, wrong)
    assert report.finished is not None
    assert report.finished.verdict is Verdict.DIFFERS
    assert "attention(q, k, v)" in report.finished.message
    assert report.example is not None
    assert report.example.call == "attention(q, k, v)"


@pytest.mark.slow
def test_parameters_named_otherwise_leave_the_verdict_to_the_tests(
    live_runner: LiveRunner, tmp_path: Path
) -> None:
    renamed = variant(tmp_path, ATTENTION, "self.query", "self.q")
    report = live_runner.run(ATTENTION, renamed)
    assert report.finished is not None
    assert report.finished.verdict is Verdict.PASSED
    assert any(
        "not compared with the reference" in text and "query" in text for text in report.notices
    )


@pytest.mark.slow
def test_a_failing_run_still_gets_its_example(live_runner: LiveRunner, tmp_path: Path) -> None:
    exercise = TESTS.parent / "exercises" / "02-attention-basics"
    report = live_runner.run(exercise, exercise / "mutants" / "softmax_over_queries.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.FAILED
    assert report.example is not None
    assert report.example.first_difference == "weights"
    assert report.example.inputs[0].numbers.shape[:2] == [1, 2]


class Doubler(nn.Module):
    """A module of a learner's file, for the recorder."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.scale = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.mul_(2)  # changes its input in place: the record must keep the input as it was
        return helper(x)


def helper(x: torch.Tensor) -> torch.Tensor:
    return x + 1


def test_the_recorder_keeps_outermost_calls_with_their_inputs_as_they_were() -> None:
    import types

    module = types.ModuleType("fake_problem")
    source = inspect.getsource(Doubler) + "\n\n" + inspect.getsource(helper)
    exec(compile("import torch\nfrom torch import nn\n" + source, "fake", "exec"), module.__dict__)
    recorder = Recorder(module)
    recorder.install()
    made = module.Doubler(3)
    assert isinstance(made, module.Doubler)
    assert isinstance(made, nn.Module)
    assert list(inspect.signature(module.Doubler).parameters) == ["width"]
    x = torch.ones(1, 2, 3)
    made(x)
    module.helper(torch.zeros(2))
    calls = recorder.recorded()
    assert [call.name for call in calls] == ["helper", "Doubler"]  # smallest first
    doubler = calls[1]
    assert doubler.init == ((3,), {})
    assert torch.equal(doubler.args[0], torch.ones(1, 2, 3))  # as it was before the call
    # helper, called inside forward, was not noted a second time.
    assert sum(call.name == "helper" for call in calls) == 1


def test_the_recorder_notes_one_call_of_each_kind_and_nothing_once_stopped() -> None:
    import types

    module = types.ModuleType("fake_problem")
    exec(compile(inspect.getsource(helper), "fake", "exec"), module.__dict__)
    recorder = Recorder(module)
    recorder.install()
    for _ in range(5):
        module.helper(torch.zeros(2))
    module.helper(torch.zeros(3))
    assert len(recorder.recorded()) == 2
    recorder.active = False
    module.helper(torch.zeros(4))
    assert len(recorder.recorded()) == 2


def test_a_call_that_raises_is_not_noted() -> None:
    import types

    module = types.ModuleType("fake_problem")
    exec("def broken(x):\n    raise ValueError('no')\n", module.__dict__)
    recorder = Recorder(module)
    recorder.install()
    with pytest.raises(ValueError, match="no"):
        module.broken(torch.zeros(1))
    assert recorder.recorded() == []


EXERCISES = TESTS.parent / "exercises"


def test_a_reference_that_draws_unseeded_random_numbers_is_not_held_against_anyone() -> None:
    import types

    noisy = types.ModuleType("noisy")
    exec(
        "import os, torch\n"
        "def f(x):\n    return x + torch.tensor(float(int.from_bytes(os.urandom(2), 'big')))\n",
        noisy.__dict__,
    )
    found = compare(Pair(noisy, noisy), [Call("f", (torch.zeros(2),))], time.monotonic() + 5)
    assert found.compared == 1
    assert found.differences == []


def test_the_buffers_stay_each_sides_own() -> None:
    """A wrong causal mask kept in a buffer is the learner's mistake, not a weight to share."""
    exercise = EXERCISES / "04-causal-masking"
    reference = load(exercise / "solution.py", "reference_04")
    wrong = load(exercise / "mutants" / "mask_hides_diagonal.py", "wrong_04")
    call = Call(
        "CausalSelfAttention", (torch.randn(2, 5, 8),), {}, ((), {"n_embd": 8, "block_size": 8})
    )
    found = compare(Pair(wrong, reference), [call], time.monotonic() + 5)
    assert len(found.differences) == 1


@pytest.mark.parametrize(
    ("exercise", "mutant", "call", "stage"),
    [
        (
            "02-attention-basics",
            "softmax_over_queries.py",
            Call("SimpleAttention", (torch.randn(2, 5, 8),), {}, ((), {"n_embd": 8})),
            "weights",
        ),
        (
            "02-attention-basics",
            "scaled_too_early.py",
            Call("SimpleAttention", (torch.randn(2, 5, 8),), {}, ((), {"n_embd": 8})),
            "scaled",
        ),
        (
            "04-causal-masking",
            "no_mask.py",
            Call(
                "CausalSelfAttention",
                (torch.randn(2, 5, 8),),
                {},
                ((), {"n_embd": 8, "block_size": 8}),
            ),
            "masked",
        ),
    ],
)
def test_the_example_is_small_and_marks_the_stage_of_the_mistake(
    exercise: str, mutant: str, call: Call, stage: str
) -> None:
    folder = EXERCISES / exercise
    pair = Pair(
        load(folder / "mutants" / mutant, f"mutant_{exercise}"),
        load(folder / "solution.py", f"reference_{exercise}"),
    )
    example = smallest_example(pair, [call], time.monotonic() + 10)
    assert example is not None
    assert example.first_difference == stage
    shape = example.inputs[0].numbers.shape
    assert shape[0] == 1
    assert shape[1] <= 3
    assert example.shrunk_from == "x (2, 5, 8)"


def test_the_reference_against_itself_has_no_example() -> None:
    folder = EXERCISES / "02-attention-basics"
    reference = load(folder / "solution.py", "reference_self")
    call = Call("SimpleAttention", (torch.randn(2, 5, 8),), {}, ((), {"n_embd": 8}))
    assert smallest_example(Pair(reference, reference), [call], time.monotonic() + 5) is None


def test_a_spent_deadline_still_answers_at_once() -> None:
    folder = EXERCISES / "02-attention-basics"
    pair = Pair(
        load(folder / "mutants" / "softmax_over_queries.py", "mutant_deadline"),
        load(folder / "solution.py", "reference_deadline"),
    )
    call = Call("SimpleAttention", (torch.randn(2, 5, 8),), {}, ((), {"n_embd": 8}))
    began = time.monotonic()
    example = smallest_example(pair, [call], began)
    assert time.monotonic() - began < 1.0
    assert example is not None  # unshrunk, but still worked through
    assert example.inputs[0].numbers.shape == [2, 5, 8]


def test_start_wraps_only_what_the_learner_defines() -> None:
    folder = EXERCISES / "02-attention-basics"
    learner = load(folder / "solution.py", "learner_wrap")
    replay = start(learner, load(folder / "solution.py", "reference_wrap"))
    assert learner.torch is torch  # an imported module is left alone
    learner.SimpleAttention(4)(torch.randn(1, 3, 4))
    assert [call.name for call in replay.recorder.recorded()] == ["SimpleAttention"]


def copied_with(tmp_path: Path, metadata: str) -> Path:
    """The shapes-only attention exercise, alone in a pack of its own, with ``metadata``."""
    import shutil

    folder = tmp_path / "pack" / ATTENTION.name
    shutil.copytree(ATTENTION, folder)
    (folder / "exercise.toml").write_text(metadata)
    return folder


@pytest.mark.slow
def test_an_exercise_can_switch_the_comparison_off(live_runner: LiveRunner, tmp_path: Path) -> None:
    folder = copied_with(tmp_path, "differential = false\n")
    wrong = variant(tmp_path, ATTENTION, "dim=-1", "dim=-2")
    report = live_runner.run(folder, wrong)
    assert report.finished is not None
    assert report.finished.verdict is Verdict.PASSED
    assert report.example is None


@pytest.mark.slow
def test_the_picture_takes_the_packs_token_labels(live_runner: LiveRunner, tmp_path: Path) -> None:
    # The call nearest six tokens is the (2, 5, 8) one: five labels fit it.
    folder = copied_with(tmp_path, 'tokens = ["a", "cat", "sat", "on", "it"]\n')
    report = live_runner.run(folder, ATTENTION / "solution.py")
    assert report.probe is not None
    assert report.probe.queries == ["a", "cat", "sat", "on", "it"]


@pytest.mark.slow
def test_show_draws_the_replayed_picture_of_an_exercise_without_a_probe(tmp_path: Path) -> None:
    from tests.test_cli import attn

    workspace = tmp_path / "w"
    attn("list", "--exercises", str(SHAPES_ONLY), "--workspace", str(workspace))
    (workspace / ATTENTION.name / "problem.py").write_text((ATTENTION / "solution.py").read_text())
    result = attn("show", "--exercises", str(SHAPES_ONLY), "1", "--workspace", str(workspace))
    assert result.returncode == 0, result.stderr
    assert "reference" in result.stdout
    assert "t0" in result.stdout


def test_a_call_with_a_whole_number_among_its_inputs_still_shrinks() -> None:
    folder = EXERCISES / "12-sliding-window-attention"
    pair = Pair(
        load(folder / "mutants" / "not_scaled.py", "mutant_window"),
        load(folder / "solution.py", "reference_window"),
    )
    q, k, v = (torch.randn(2, 7, 5) for _ in range(3))
    call = Call("sliding_window_attention", (q, k, v, 3))
    example = smallest_example(pair, [call], time.monotonic() + 10)
    assert example is not None
    assert example.first_difference == "scaled"
    shape = example.inputs[0].numbers.shape
    assert shape[0] == 1
    assert shape[1] <= 3
