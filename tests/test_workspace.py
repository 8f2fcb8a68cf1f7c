"""The learner's workspace and progress: never lose code, never crash on a bad file."""

from __future__ import annotations

import json
import shutil
import stat
import tracemalloc
from pathlib import Path

import pytest

from tests.builders import report_of
from tests.conftest import WILD_PACK
from tutor.core import progress as progress_module
from tutor.core.catalog import builtin_pack, load
from tutor.core.course import open_course
from tutor.core.workspace import Workspace, choose_root


def test_first_use_copies_skeletons_and_says_where(tmp_path: Path) -> None:
    course = open_course(WILD_PACK, tmp_path / "ws")
    assert len(course.created) == 3
    for exercise in course.catalog.exercises:
        assert course.problem(exercise).read_text() == exercise.skeleton.read_text()
    assert any(str(tmp_path / "ws") in message for message in course.messages)


def test_later_runs_never_overwrite_learner_files(tmp_path: Path) -> None:
    first = open_course(WILD_PACK, tmp_path / "ws")
    mine = first.problem(first.catalog.exercises[0])
    mine.write_text("my work\n")
    again = open_course(WILD_PACK, tmp_path / "ws")
    assert again.created == []
    assert mine.read_text() == "my work\n"


def test_a_new_exercise_appears_without_touching_others(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(WILD_PACK, pack)
    course = open_course(pack, tmp_path / "ws")
    mine = course.problem(course.catalog.exercises[0])
    mine.write_text("my work\n")
    shutil.copytree(pack / "01-plain-import", pack / "04-added")
    again = open_course(pack, tmp_path / "ws")
    assert [e.key for e in again.created] == ["04-added"]
    assert mine.read_text() == "my work\n"
    assert any("04-added" in message for message in again.messages)


def test_reset_keeps_a_backup(tmp_path: Path) -> None:
    catalog = load(WILD_PACK)
    space = Workspace(tmp_path / "ws")
    space.ensure(catalog)
    exercise = catalog.exercises[0]
    space.problem(exercise).write_text("precious attempt\n")
    backup = space.reset(exercise)
    assert backup is not None
    assert backup.read_text() == "precious attempt\n"
    assert space.problem(exercise).read_text() == exercise.skeleton.read_text()
    second = space.reset(exercise)
    assert second is not None
    assert second != backup
    assert backup.exists()


def test_workspace_location_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builtin = builtin_pack()
    explicit = tmp_path / "explicit"
    monkeypatch.setenv("ATTN_TUTOR_WORKSPACE", str(tmp_path / "env"))
    assert choose_root(explicit, builtin, builtin) == explicit
    assert choose_root(None, builtin, builtin) == tmp_path / "env"
    monkeypatch.delenv("ATTN_TUTOR_WORKSPACE")
    assert choose_root(None, builtin, builtin) == Path.home() / "attn-tutor"
    other = choose_root(None, WILD_PACK, builtin)
    assert other.parent == Path.home() / "attn-tutor" / "packs"


def test_unwritable_workspace_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(Exception, match="--workspace"):
        open_course(WILD_PACK, blocker / "ws")


def test_progress_round_trip_and_solved_moment(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    progress = progress_module.load(path)
    assert progress.record("02", report_of(False)) is False
    assert progress.record("02", report_of(True)) is True
    assert progress.record("02", report_of(True)) is False
    progress.see_hint("02", "shapes")
    progress.current = "02"
    progress.save()
    back = progress_module.load(path)
    entry = back.of("02")
    assert (entry.status, entry.attempts, entry.hints_seen) == ("passing", 3, ["shapes"])
    assert entry.first_solved is not None
    assert back.current == "02"


def test_progress_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    progress = progress_module.load(path)
    progress.record("a", report_of(True))
    progress.save()
    assert json.loads(path.read_text())["exercises"]["a"]["status"] == "passing"
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != ".home")
    assert left == [".progress.json.lock", "progress.json"], "no temp file left"


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"a string"', b"\xff\xfe"])
def test_corrupt_progress_is_moved_aside(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "progress.json"
    path.write_bytes(content)
    progress = progress_module.load(path)
    assert progress.exercises == {}
    assert "starting fresh" in progress.warning
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("progress.json.broken-")]
    assert len(kept) == 1
    assert kept[0].read_bytes() == content
    progress.save()
    assert progress_module.load(path).warning == ""


def test_an_odd_field_is_left_out_with_a_notice_and_costs_nothing_else(tmp_path: Path) -> None:
    """A hand-edited record keeps every field it can: attempts, the star, other exercises."""
    path = tmp_path / "progress.json"
    odd = {
        "status": "failing",
        "attempts": 3,
        "first_solved": "2026-12-01T10:00:00+00:00",
        "last_run": 5,
        "hints_seen": "softmax-axis",
        "failing_tests": [5],
        "diagnosis_hint": ["x"],
    }
    fine = {"status": "passing", "attempts": 1, "hints_seen": ["a", "a", "b"]}
    record = {"version": 1, "current": 7, "exercises": {"02": odd, "03": fine, "04": 3}}
    path.write_text(json.dumps(record))
    progress = progress_module.load(path)

    back = progress.of("02")
    assert (back.attempts, back.solved, back.status) == (3, True, "failing")
    assert (back.hints_seen, back.failing_tests, back.diagnosis_hint) == ([], [], "")
    assert back.last_run is None
    assert progress.of("03").hints_seen == ["a", "b"]
    assert progress.current is None
    assert "04" not in progress.exercises
    notice = progress.warning
    for name in ("current", "02.last_run", "02.hints_seen", "04"):
        assert name in notice
    assert "kept the rest" in notice
    [kept] = [p for p in tmp_path.iterdir() if p.name.startswith("progress.json.broken-")]
    assert json.loads(kept.read_text()) == record  # the file as it was, before the next save
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


@pytest.mark.parametrize("attempts", ["three", -1, True, 2.5, None])
def test_a_bad_attempt_count_is_left_out_alone(tmp_path: Path, attempts: object) -> None:
    path = tmp_path / "progress.json"
    entry = {"status": "passing", "attempts": attempts, "first_solved": "2026-12-01"}
    path.write_text(json.dumps({"exercises": {"02": entry}}))
    progress = progress_module.load(path)
    assert progress.of("02").attempts == 0
    assert progress.of("02").solved
    assert "02.attempts" in progress.warning


def test_a_huge_progress_file_is_set_aside_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    hints = ["h"] * (progress_module.MAX_BYTES // 4)  # valid JSON, past the cap
    path.write_text(json.dumps({"exercises": {"02": {"hints_seen": hints}}}))
    tracemalloc.start()
    try:
        progress = progress_module.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert progress.exercises == {}
    assert "larger than 1024 KB" in progress.warning
    assert "starting fresh" in progress.warning
    assert peak < 2 * progress_module.MAX_BYTES, "one bounded read, never the whole file"
    kept = [p.name for p in tmp_path.iterdir() if p.name.startswith("progress")]
    assert len(kept) == 1
    assert kept[0].startswith("progress.json.broken-")


class Counted(str):
    """A hint id that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        Counted.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def counted(prefix: str, count: int) -> list[str]:
    return [Counted(f"{prefix}{i}") for i in range(count)]


def test_merging_hints_is_linear(tmp_path: Path) -> None:
    """Thousands of hints seen on each side: the merge compares each about once, not each pair."""
    count = 5_000
    mine = progress_module.Progress(path=tmp_path / "progress.json")
    theirs = progress_module.Progress(path=tmp_path / "progress.json")
    mine.of("02").hints_seen = counted("m", count)
    theirs.of("02").hints_seen = [*counted("t", count), Counted("m0")]
    Counted.comparisons = 0
    mine.merge(theirs)
    assert len(mine.of("02").hints_seen) == 2 * count
    assert Counted.comparisons < 4 * count
