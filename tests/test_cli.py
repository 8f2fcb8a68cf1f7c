"""The headless commands, run as a learner runs them: a real process, real exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.builders import unscaled
from tests.conftest import BASICS, WILD_PACK
from tutor import cli
from tutor.core.catalog import Exercise
from tutor.core.course import Course
from tutor.core.explain import AGREE, NO_REFERENCE
from tutor.core.protocol import STAGES, Event, Outcome, RunFinished, TestOutcome, Verdict
from tutor.core.report import RunReport


def attn(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tutor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ},
    )


def test_help_lists_the_commands() -> None:
    result = attn("--help")
    assert result.returncode == 0
    for command in ("list", "check", "explain", "hint", "reset", "where", "verify", "trust"):
        assert command in result.stdout


def test_version() -> None:
    result = attn("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("attn-tutor ")


def test_list_json_and_first_use_message(tmp_path: Path) -> None:
    result = attn("list", "--json", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    basics = next(row for row in rows if row["id"] == "attention-basics")
    assert basics["status"] == "not started"
    assert basics["number"] == 2
    assert str(tmp_path / "ws") in result.stderr


@pytest.mark.parametrize("before", [False, True], ids=["after the command", "before it"])
def test_where_prints_the_workspace(tmp_path: Path, before: bool) -> None:
    option = ("--workspace", str(tmp_path / "ws"))
    result = attn(*option, "where") if before else attn("where", *option)
    assert result.returncode == 0
    assert f"workspace: {tmp_path / 'ws'}" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("check", "99"),
        ("hint", "nonsense"),
        ("reset", "42"),
        ("list", "--exercises", "/no/such/pack"),
        ("check", "--timeout", "-1"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = attn(*args, "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2
    errors = [
        line for line in result.stderr.splitlines() if not line.startswith("attn-tutor: your")
    ]
    assert errors
    assert "Traceback" not in result.stderr
    assert errors[-1].startswith("attn-tutor: ")


def test_hint_walks_the_tiers_and_remembers(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    first = attn("hint", "2", "--workspace", ws)
    second = attn("hint", "02", "--workspace", ws)
    assert first.returncode == second.returncode == 0
    assert first.stdout.startswith("[nudge]")
    assert first.stdout != second.stdout
    progress = json.loads((tmp_path / "ws" / ".attn-tutor" / "progress.json").read_text())
    assert len(progress["exercises"]["02-attention-basics"]["hints_seen"]) == 2


def test_reset_backs_up_the_learner_file(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    attn("list", "--workspace", str(ws))
    mine = ws / "02-attention-basics" / "problem.py"
    mine.write_text("my attempt\n")
    result = attn("reset", "attention-basics", "--workspace", str(ws))
    assert result.returncode == 0
    assert mine.read_text() == (BASICS / "problem.py").read_text()
    backups = list((ws / ".attn-tutor" / "backups" / "02-attention-basics").iterdir())
    assert [b.read_text() for b in backups] == ["my attempt\n"]
    assert str(backups[0]) in result.stdout


@pytest.mark.slow
def test_check_exit_codes_follow_the_verdict(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    untouched = attn("check", "2", "--workspace", str(ws))
    assert untouched.returncode == 1
    assert "not implemented yet" in untouched.stdout
    shutil.copy(BASICS / "solution.py", ws / "02-attention-basics" / "problem.py")
    solved = attn("check", "2", "--workspace", str(ws), "--json")
    assert solved.returncode == 0, solved.stdout
    assert json.loads(solved.stdout)["verdict"] == "passed"
    # Every mutant is run by `verify`; here one shows the exit code of a wrong answer.
    shutil.copy(BASICS / "mutants" / "no_softmax.py", ws / "02-attention-basics" / "problem.py")
    assert attn("check", "2", "--workspace", str(ws)).returncode == 1


def test_trust_records_a_pack_and_lists_what_changed_since(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(WILD_PACK / "01-plain-import", pack / "01-plain-import")
    options = ("--exercises", str(pack), "--workspace", str(tmp_path / "ws"))
    first = attn("trust", *options)
    assert first.returncode == 0, first.stderr
    assert f"the files of {pack} are accepted as they are now" in first.stdout
    records = list((tmp_path / "ws" / ".attn-tutor" / "fingerprints").iterdir())
    assert len(records) == 1
    assert records[0].stat().st_mode & 0o777 == 0o600  # the learner's alone

    (pack / "01-plain-import" / "test_plain.py").write_text("def test_more():\n    pass\n")
    (pack / "01-plain-import" / "data.txt").write_text("1 2 3\n")
    second = attn("trust", *options)
    assert second.returncode == 0, second.stderr
    assert "01-plain-import/test_plain.py has changed" in second.stdout
    assert "01-plain-import/data.txt has been added" in second.stdout


@pytest.mark.slow
def test_verify_a_wild_pack() -> None:
    result = attn("verify", "--exercises", str(WILD_PACK))
    assert result.returncode == 0, result.stdout  # no exercise.toml: no mutants to catch
    assert "3 of 3 exercises verified" in result.stdout


@pytest.mark.slow
def test_verify_catches_a_mutant_that_passes(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(WILD_PACK / "01-plain-import", pack / "01-plain-import")
    folder = pack / "01-plain-import"
    (folder / "mutants").mkdir()
    shutil.copy(folder / "solution.py", folder / "mutants" / "same.py")
    (folder / "exercise.toml").write_text(
        '[[mutants]]\nfile = "same.py"\nmisconception = "none at all"\n'
    )
    result = attn("verify", "--exercises", str(pack))
    assert result.returncode == 1
    assert "same.py (none at all) passes every test" in result.stdout


@pytest.mark.slow
def test_verify_the_builtin_curriculum() -> None:
    """Every solution passes, every skeleton fails cleanly, every mutant is caught."""
    result = attn("verify")
    assert result.returncode == 0, result.stdout
    rows = re.findall(r"^\d\d \S+ +\d+ +(\d+)/(\d+) .* ok$", result.stdout, re.M)
    assert len(rows) >= 13, result.stdout
    for caught, total in rows:
        assert caught == total
        assert int(total) >= 4


@pytest.mark.slow
def test_show_prints_the_picture_and_the_diagnosis(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    attn("list", "--workspace", str(ws))
    shutil.copy(BASICS / "mutants" / "softmax_over_queries.py", ws / BASICS.name / "problem.py")
    result = attn("show", "2", "--ascii", "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    assert "yours" in result.stdout
    assert "reference" in result.stdout
    assert "The   |" in result.stdout  # row labels, ASCII borders
    assert result.stdout.isascii()
    assert "softmax over the query axis" in " ".join(result.stdout.split())


@pytest.mark.slow
def test_show_all_heads_prints_the_overview(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    attn("list", "--workspace", str(ws))
    heads = BASICS.parent / "06-multi-head-attention"
    shutil.copy(heads / "mutants" / "softmax_over_queries.py", ws / heads.name / "problem.py")
    result = attn("show", "6", "--head", "all", "--ascii", "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    assert result.stdout.isascii()
    assert "yours, all 3 heads" in result.stdout
    assert "head 1 !    head 2 !    head 3 !" in result.stdout
    assert "scores = Q_h K_h^T" in result.stdout  # the trace names the lesson's steps


TRAINED = BASICS.parent / "15-attention-in-a-trained-model"


def best_head(role: str) -> tuple[str, float]:
    """The reference's head that does ``role`` most, by its picture name, with its score."""
    scores = json.loads((TRAINED / "tiny_lm.json").read_text())["scores"][role]
    head = max(range(len(scores)), key=lambda k: scores[k])
    return f"L{head // 4 + 1} H{head % 4 + 1}", scores[head]


@pytest.mark.slow
def test_show_all_heads_of_the_trained_model_names_the_heads_at_work(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    attn("list", "--workspace", str(ws))
    shutil.copy(TRAINED / "solution.py", ws / TRAINED.name / "problem.py")
    result = attn("show", "trained-model", "--head", "all", "--ascii", "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "yours, all 8 heads" in out
    for role in ("prev-token", "induction"):
        name, score = best_head(role)
        assert score >= 0.5, role
        assert f"{name} {role} {score:.2f}" in out  # the head's title: name, job, score
        assert re.search(rf"^{name} {role} +{score:.2f} +{score:.2f}$", out, re.M), out
    generated = json.loads((TRAINED / "tiny_lm.json").read_text())["generation"]
    assert f"  yours      {generated}" in out
    assert not re.search(r"L\d H\d !", out), "no head of the solution differs"


@pytest.mark.slow
def test_show_of_the_trained_model_shows_what_a_leak_does(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    attn("list", "--workspace", str(ws))
    shutil.copy(TRAINED / "mutants" / "no_causal_mask.py", ws / TRAINED.name / "problem.py")
    result = attn("show", "15", "--head", "all", "--ascii", "--workspace", str(ws))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "known mistake: no causal mask" in " ".join(out.split())
    name, score = best_head("prev-token")
    row = re.search(rf"^{name} prev-token +(\d\.\d\d) ! +{score:.2f}$", out, re.M)
    assert row is not None, out
    assert float(row.group(1)) < 0.5  # the previous-token head lost its job
    assert f"{name} !x" in out  # its title: differs from the reference, and leaks
    loss = re.search(r"held-out loss: yours (\d\.\d+), reference (\d\.\d+)", out)
    assert loss is not None
    assert float(loss.group(1)) > float(loss.group(2)) + 1  # confused, not helped


def test_show_head_must_be_a_number_or_all(tmp_path: Path) -> None:
    result = attn("show", "6", "--head", "some", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2
    assert "--head: 'some' is neither a head number nor all" in result.stderr
    assert "Traceback" not in result.stderr


def test_show_without_a_probe_is_a_clear_error(tmp_path: Path) -> None:
    result = attn("show", "--exercises", str(WILD_PACK), "1", "--workspace", str(tmp_path / "w"))
    assert result.returncode == 2
    assert "no attention picture" in result.stderr


def test_list_keeps_its_columns_with_a_long_title(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(WILD_PACK, pack)
    lesson = pack / "01-plain-import" / "README.md"
    long_title = "Adding numbers, with a plain import, explained at very great length indeed"
    lesson.write_text(f"# {long_title}\n\nAdd two numbers.\n")
    result = subprocess.run(
        [sys.executable, "-m", "tutor", "list", "--exercises", str(pack)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if re.match(r"^[> ] \d\d  ", line)]
    assert len(rows) >= 3
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    columns = {line.index("not started") for line in rows}
    assert len(columns) == 1, "the latest-run column starts at the same place on every row"
    words = " ".join(line[6:].split("  ")[0].strip() for line in result.stdout.splitlines()[1:3])
    assert long_title in words, "the title wraps onto a second line, whole"


def test_list_counts_solved_once_and_shows_the_latest_run(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    record = {
        "version": 1,
        "exercises": {
            "02-attention-basics": {
                "status": "failing",
                "attempts": 3,
                "first_solved": "2026-12-01T10:00:00+00:00",
            },
            "03-scaled-attention": {"status": "solved", "attempts": 1, "first_solved": "x"},
        },
    }
    (workspace / ".attn-tutor").mkdir(parents=True)
    (workspace / ".attn-tutor" / "progress.json").write_text(json.dumps(record))
    result = attn("list", "--json", "--workspace", str(workspace))
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert (rows["attention-basics"]["solved"], rows["attention-basics"]["status"]) == (
        True,
        "failing",
    )
    # An earlier version wrote "solved" as a status: it reads as passing, with its star.
    assert (rows["scaled-attention"]["solved"], rows["scaled-attention"]["status"]) == (
        True,
        "passing",
    )
    text = attn("list", "--workspace", str(workspace)).stdout
    assert "★ 2 of 15 solved" in text
    assert text.count("★") == 3, "two rows and the count"


def run_in_process(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    events: Sequence[Event],
    *args: str,
) -> tuple[int, str]:
    """The command in this process, its run answered by ``events``; (exit code, stdout)."""
    runs: list[str] = []

    async def scripted(
        course: Course, exercise: Exercise, problem: Path, timeout: float
    ) -> RunReport:
        runs.append(exercise.key)
        report = RunReport()
        for event in events:
            report.add(event)
        return report

    monkeypatch.setattr(cli, "run_report", scripted)
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as ended:
        cli.main(list(args))
    code = ended.value.code
    assert isinstance(code, int)
    out = capsys.readouterr().out
    if events:
        assert runs, "the command ran the exercise"
    return code, out


def differs() -> list[Event]:
    return [
        TestOutcome(run_id=1, name="test_shapes"),
        RunFinished(run_id=1, verdict=Verdict.DIFFERS, passed=1, total=1),
        unscaled(),
    ]


def test_explain_works_through_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    code, out = run_in_process(monkeypatch, capsys, differs(), "explain", "2", "--workspace", ws)
    assert code == 1
    assert "SimpleAttention(n_embd=2)(x)" in out
    assert "scaled: scores / sqrt(d)  ← first difference" in out or "<- first difference" in out
    assert "(no such step in your code)" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_explain_says_in_one_line_why_there_is_nothing_to_explain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    passed = [RunFinished(run_id=1, verdict=Verdict.PASSED, passed=1, total=1)]
    code, out = run_in_process(monkeypatch, capsys, passed, "explain", "2", "--workspace", ws)
    assert code == 0
    assert out.count("\n") == 1
    assert out.strip().endswith(f": {AGREE}")
    failed = [
        TestOutcome(run_id=1, name="test_shapes", outcome=Outcome.FAILED, message="wrong"),
        RunFinished(run_id=1, verdict=Verdict.FAILED, failed=1, total=1),
    ]
    code, out = run_in_process(monkeypatch, capsys, failed, "explain", "2", "--workspace", ws)
    assert code == 1
    assert out.count("\n") == 1
    assert "0 of 1 tests pass" in out


def test_explain_without_a_reference_says_so_without_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(WILD_PACK / "01-plain-import", pack / "01-plain-import")
    (pack / "01-plain-import" / "solution.py").unlink()
    args = ("explain", "1", "--exercises", str(pack), "--workspace", str(tmp_path / "ws"))
    code, out = run_in_process(monkeypatch, capsys, [], *args)
    assert code == 0
    assert out.strip().endswith(NO_REFERENCE)


def test_check_json_carries_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    code, out = run_in_process(
        monkeypatch, capsys, differs(), "check", "2", "--json", "--workspace", ws
    )
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "differs from the reference"
    example = data["example"]
    assert example["call"] == "SimpleAttention(n_embd=2)(x)"
    assert example["first_difference"] == "scaled"
    assert [stage["name"] for stage in example["stages"]] == list(STAGES)
    assert example["stages"][1]["learner"] is None
    assert example["inputs"][0]["numbers"]["shape"] == [1, 2, 2]
    # Strict JSON, which has no infinities nor NaN: they are written as words.
    assert example["stages"][2]["learner"]["values"] == [[[1.0, "-inf"], [0.0, 1.0]]]
    assert example["stages"][4]["learner"]["values"] == [[[1.0, 0.0], [0.27, "nan"]]]
    json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    passed = [RunFinished(run_id=1, verdict=Verdict.PASSED, passed=1, total=1)]
    code, out = run_in_process(
        monkeypatch, capsys, passed, "check", "2", "--json", "--workspace", ws
    )
    assert (code, json.loads(out)["example"]) == (0, None)
