"""The trained model of exercise 15: its weights, what the training script reported, and the
kit's helpers that load it and name what its heads do."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from tests.conftest import LiveRunner
from tutor.core.catalog import Exercise, builtin_pack, read_exercise
from tutor.core.protocol import ROLE_SHARE, Outcome
from tutor.kit import tinylm
from tutor.kit.heads import induction_scores, previous_token_scores, repeated_sequence

ROOT = Path(__file__).resolve().parent.parent
EXERCISE = builtin_pack() / "15-attention-in-a-trained-model"
TEXT = ROOT / "tools" / "text" / "alice.txt"
MAX_WEIGHTS_BYTES = 5 * 1024 * 1024


def module(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def report() -> dict[str, Any]:
    found: dict[str, Any] = json.loads((EXERCISE / tinylm.REPORT_FILE).read_text())
    return found


def reference_model() -> tinylm.TinyLM:
    solution = module(EXERCISE / "solution.py", "tinylm_solution")
    return tinylm.load(EXERCISE, solution.CausalSelfAttention)


# The weights and the report ----------------------------------------------------------------


def test_the_weights_are_small_and_the_text_is_the_one_trained_on() -> None:
    assert (EXERCISE / tinylm.WEIGHTS_FILE).stat().st_size < MAX_WEIGHTS_BYTES
    assert report()["text"] == TEXT.relative_to(ROOT).as_posix()
    assert hashlib.sha256(TEXT.read_bytes()).hexdigest() == report()["text_sha256"]


def test_the_reference_heldout_loss_is_what_the_script_reported() -> None:
    model = reference_model()
    _, heldout = tinylm.split(TEXT.read_text(encoding="utf-8"))
    assert tinylm.heldout_loss(model, heldout) == pytest.approx(report()["heldout_loss"], abs=1e-4)
    excerpt = (EXERCISE / "heldout.txt").read_text(encoding="utf-8")
    assert heldout.startswith(excerpt)
    assert tinylm.heldout_loss(model, excerpt) == pytest.approx(report()["excerpt_loss"], abs=1e-4)
    # Far better than guessing among the characters, which costs log(vocabulary) nats.
    assert report()["heldout_loss"] < 0.5 * math.log(model.config.vocab_size)


def test_the_reference_writes_the_reported_text_with_room_for_rounding() -> None:
    expected = report()["generation"]
    written, margin = tinylm.generate(reference_model(), report()["prompt"], len(expected))
    assert written == expected
    # Greedy choices are never near a tie, so rounding differences cannot change the text.
    assert margin == pytest.approx(report()["narrowest_margin"], abs=1e-4)
    assert margin > 1e-3


def test_the_reference_has_a_previous_token_head_and_an_induction_head() -> None:
    excerpt = (EXERCISE / "heldout.txt").read_text(encoding="utf-8")
    scores = tinylm.head_scores(reference_model(), excerpt)
    for role in (tinylm.PREVIOUS_TOKEN, tinylm.INDUCTION):
        assert scores[role] == pytest.approx(report()["scores"][role], abs=1e-6)
        assert max(scores[role]) >= ROLE_SHARE, role


# Loading a learner's attention -------------------------------------------------------------


SOLUTION = module(EXERCISE / "solution.py", "tinylm_solution_classes")


class ExtraParameter(SOLUTION.CausalSelfAttention):  # type: ignore[misc, name-defined]
    """The reference's attention plus a learned scale the trained model has no value for."""

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__(n_embd, n_head, block_size)
        self.temperature = nn.Parameter(torch.ones(1))


class Wrapped(nn.Module):
    """The reference's attention one level down, as ``self.inner``."""

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.inner = SOLUTION.CausalSelfAttention(n_embd, n_head, block_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out: tuple[torch.Tensor, torch.Tensor] = self.inner(x)
        return out


class OutputOnly(nn.Module):
    """An attention that returns only its output, as exercise 14's did."""

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        for name in ("query", "key", "value", "proj"):
            setattr(self, name, nn.Linear(n_embd, n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_a_parameter_the_model_lacks_is_named_in_the_learners_words() -> None:
    with pytest.raises(tinylm.AttentionMismatch) as raised:
        tinylm.load(EXERCISE, ExtraParameter)
    assert str(raised.value).startswith(
        "the trained model has no values for self.temperature (layer 1's attention), "
        "self.temperature (layer 2's attention)"
    )


def test_a_layer_the_model_cannot_find_is_named_in_the_learners_words() -> None:
    with pytest.raises(tinylm.AttentionMismatch) as raised:
        tinylm.load(EXERCISE, Wrapped)
    assert str(raised.value) == (
        "the trained model has the weight of self.query (layer 1's attention); yours does not"
    )


def test_an_attention_that_returns_only_its_output_is_told_what_to_return() -> None:
    model = tinylm.load(EXERCISE, OutputOnly)
    with pytest.raises(tinylm.AttentionMismatch, match=r"should return the pair \(output"):
        model(model.config.encode("Alice").unsqueeze(0))


# The head scores ---------------------------------------------------------------------------


def test_previous_token_scores_read_the_diagonal_below() -> None:
    length = 5
    previous = torch.zeros(length, length)
    previous[0, 0] = 1.0
    previous[torch.arange(1, length), torch.arange(length - 1)] = 1.0
    itself = torch.eye(length)
    weights = torch.stack([previous, itself]).unsqueeze(0)  # (1, 2 heads, T, T)
    assert previous_token_scores(weights) == [1.0, 0.0]


def test_induction_scores_read_the_token_after_the_earlier_occurrence() -> None:
    period = 4
    length = 2 * period
    induction = torch.zeros(length, length)
    induction[:, 0] = 1.0
    for query in range(period, length):
        induction[query] = 0.0
        induction[query, query - period + 1] = 1.0
    same_token = torch.zeros(length, length)
    same_token[:, 0] = 1.0
    for query in range(period, length):
        same_token[query] = 0.0
        same_token[query, query - period] = 1.0  # the earlier occurrence itself: not induction
    scores = induction_scores(torch.stack([induction, same_token]), period)
    assert scores == [1.0, 0.0]


def test_a_repeated_sequence_says_its_block_twice() -> None:
    ids = repeated_sequence(72, 6, seed=3)
    assert ids.shape == (1, 12)
    assert torch.equal(ids[0, :6], ids[0, 6:])
    assert torch.equal(ids, repeated_sequence(72, 6, seed=3))


# The training script -----------------------------------------------------------------------


@pytest.mark.slow
def test_training_is_deterministic(tmp_path: Path) -> None:
    """Two short runs with the same seed write byte-identical weights and the same report."""
    outputs = []
    for run in ("a", "b"):
        folder = tmp_path / run
        script = str(ROOT / "tools" / "train_tiny_lm.py")
        subprocess.run(
            [sys.executable, script, "--steps", "3", "--batch", "4", "--out", str(folder)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        saved = json.loads((folder / tinylm.REPORT_FILE).read_text())
        saved.pop("train_seconds")
        outputs.append(((folder / tinylm.WEIGHTS_FILE).read_bytes(), saved))
    assert outputs[0] == outputs[1]


# The exercise in the real worker -----------------------------------------------------------

MODEL_TESTS = {
    "test_heldout_loss_matches_the_reference",
    "test_greedy_text_matches_the_reference",
    "test_the_heads_keep_their_jobs",
}


@pytest.mark.slow
def test_the_solution_runs_the_trained_model_in_the_worker(live_runner: LiveRunner) -> None:
    exercise = read_exercise(EXERCISE)
    assert isinstance(exercise, Exercise)
    report = live_runner.run(EXERCISE, EXERCISE / "solution.py")
    assert report.passed, report.headline()
    assert {o.name for o in report.outcomes if o.outcome is Outcome.PASSED} >= MODEL_TESTS
    probe = report.probe
    assert probe is not None
    assert probe.head_scores == probe.reference_head_scores
    assert {s.role for s in probe.head_scores if s.named} == {"prev-token", "induction"}
    assert any(note.startswith("held-out loss: yours ") for note in probe.notes)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.name for p in (EXERCISE / "mutants").glob("*.py")))
def test_every_mutant_breaks_the_trained_model(live_runner: LiveRunner, name: str) -> None:
    """Each mistake fails the model's own tests, not only the tests on random weights."""
    exercise = read_exercise(EXERCISE)
    assert isinstance(exercise, Exercise)
    report = live_runner.run(EXERCISE, EXERCISE / "mutants" / name)
    assert not report.passed
    failed = {o.name for o in report.outcomes if o.outcome is Outcome.FAILED}
    assert failed >= MODEL_TESTS, failed
