"""What the learner has done: solved exercises, attempts, hints seen, where they were.

Stored as ``progress.json`` in the workspace's state folder and always written
atomically. A file that cannot be read back is moved aside with a message, never
allowed to stop the tutor. Two tutors open on one workspace both save safely: each save
merges with what the other wrote, under a lock, so neither undoes the other's record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from tutor.core import locks
from tutor.core.files import replace_atomically
from tutor.core.hints import Failure
from tutor.core.private import make_folder, refuse_symlink
from tutor.core.report import RunReport

VERSION = 1


class Status(StrEnum):
    """Where an exercise stands now: the learner's latest counted run.

    Whether it was ever solved is another matter, ``ExerciseProgress.solved``: the star stays
    earned when a later save fails.
    """

    NOT_STARTED = "not started"
    FAILING = "failing"
    PASSING = "passing"


# Written by earlier versions: "solved" was a status, which mixed the star with the state.
LEGACY_STATUSES = {"solved": Status.PASSING}


@dataclass
class ExerciseProgress:
    """One exercise's record."""

    status: Status = Status.NOT_STARTED
    attempts: int = 0  # runs of the learner's file
    hints_seen: list[str] = field(default_factory=list)
    first_solved: str | None = None  # ISO time of the first full pass
    last_run: str | None = None
    # What the latest counted run showed, so that every view picks the same next hint.
    failing_tests: list[str] = field(default_factory=list)
    diagnosis_hint: str = ""

    @property
    def solved(self) -> bool:
        """Every test passed at least once (the star), whatever the latest run did."""
        return self.first_solved is not None

    @property
    def failure(self) -> Failure:
        return Failure(frozenset(self.failing_tests), self.diagnosis_hint)


@dataclass
class Progress:
    """The whole record, with the file it lives in."""

    path: Path
    current: str | None = None
    exercises: dict[str, ExerciseProgress] = field(default_factory=dict)
    warning: str = ""  # set when the stored file had to be moved aside
    # Attempts per exercise as last read from or written to the file: what this process
    # added since is the difference, which a merge adds to the other process's count.
    synced: dict[str, int] = field(default_factory=dict)

    def of(self, key: str) -> ExerciseProgress:
        return self.exercises.setdefault(key, ExerciseProgress())

    def record(self, key: str, report: RunReport) -> bool:
        """Count a finished run if it tested the learner's code (``Verdict.counts_as_attempt``).

        Returns True when this run solved the exercise for the first time.
        """
        finished = report.finished
        if finished is None or not finished.verdict.counts_as_attempt:
            return False
        passed = finished.verdict.ok
        entry = self.of(key)
        entry.attempts += 1
        entry.last_run = now()
        entry.failing_tests = sorted(report.failing_tests)
        entry.diagnosis_hint = report.probe.diagnosis_hint if report.probe and not passed else ""
        first = passed and entry.first_solved is None
        if first:
            entry.first_solved = entry.last_run
        entry.status = Status.PASSING if passed else Status.FAILING
        return first

    def note_diagnosis(self, key: str, hint_id: str) -> bool:
        """The picture, which follows the verdict, linked the failure to a hint; True if new."""
        entry = self.of(key)
        if entry.diagnosis_hint == hint_id or entry.status is not Status.FAILING:
            return False
        entry.diagnosis_hint = hint_id
        return True

    def see_hint(self, key: str, hint_id: str) -> None:
        entry = self.of(key)
        if hint_id not in entry.hints_seen:
            entry.hints_seen.append(hint_id)

    @property
    def solved(self) -> set[str]:
        """The exercises with a star."""
        return {key for key, entry in self.exercises.items() if entry.solved}

    def save(self, wait: float = locks.WAIT) -> None:
        """Merge with the stored record and write atomically; ``OSError`` if the disk refused,
        or the lock stayed held past ``wait`` seconds (``LockHeld``, naming the holder)."""
        make_folder(self.path.parent)
        with locks.held(self.path.with_name(f".{self.path.name}{locks.SUFFIX}"), wait):
            refuse_symlink(self.path)  # never read or replaced through a link
            stored = read_quietly(self.path)
            if stored is not None:
                self.merge(stored)
            payload = {
                "version": VERSION,
                "current": self.current,
                "exercises": {key: asdict(entry) for key, entry in sorted(self.exercises.items())},
            }
            replace_atomically(self.path, (json.dumps(payload, indent=2) + "\n").encode())
        self.synced = {key: entry.attempts for key, entry in self.exercises.items()}

    def merge(self, stored: Progress) -> None:
        """Take in what another tutor saved since this one last read or wrote the file."""
        for key, theirs in stored.exercises.items():
            mine = self.exercises.get(key)
            if mine is None:
                self.exercises[key] = theirs
                continue
            added = max(0, mine.attempts - self.synced.get(key, 0))
            latest = mine if (mine.last_run or "") >= (theirs.last_run or "") else theirs
            solved = [t for t in (mine.first_solved, theirs.first_solved) if t]
            mine.attempts = theirs.attempts + added
            mine.hints_seen += [h for h in theirs.hints_seen if h not in mine.hints_seen]
            mine.first_solved = min(solved) if solved else None
            mine.last_run = latest.last_run
            mine.status = latest.status
            mine.failing_tests = latest.failing_tests
            mine.diagnosis_hint = latest.diagnosis_hint


def read_quietly(path: Path) -> Progress | None:
    """The stored record, or None if there is none or it cannot be read."""
    try:
        return parse(path, json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError):
        return None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load(path: Path) -> Progress:
    """Read progress; a missing file is a fresh start, a broken one is moved aside."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Progress(path=path)
    except (OSError, UnicodeDecodeError) as error:
        return set_aside(path, f"could not be read ({error})")
    try:
        progress = parse(path, json.loads(raw))
    except (ValueError, TypeError, AttributeError) as error:
        return set_aside(path, f"is damaged ({error})")
    progress.synced = {key: entry.attempts for key, entry in progress.exercises.items()}
    return progress


def parse(path: Path, data: Any) -> Progress:
    if not isinstance(data, dict) or not isinstance(data.get("exercises", {}), dict):
        raise ValueError("not a progress record")
    progress = Progress(path=path, current=data.get("current"))
    for key, entry in data.get("exercises", {}).items():
        if not isinstance(entry, dict):
            raise ValueError(f"entry {key!r} is not a table")
        status = entry.get("status")
        known = Status(status) if status in set(Status) else LEGACY_STATUSES.get(str(status))
        progress.exercises[str(key)] = ExerciseProgress(
            status=known or Status.NOT_STARTED,
            attempts=int(entry.get("attempts", 0)),
            hints_seen=texts(entry.get("hints_seen")),
            first_solved=text_or_none(entry.get("first_solved")),
            last_run=text_or_none(entry.get("last_run")),
            failing_tests=texts(entry.get("failing_tests")),
            diagnosis_hint=text_or_none(entry.get("diagnosis_hint")) or "",
        )
    if progress.current is not None and not isinstance(progress.current, str):
        raise ValueError("current exercise is not a name")
    return progress


def texts(value: object) -> list[str]:
    """A stored list of names; anything else (a hand-edited file) reads as none, so one odd
    field never costs the learner the rest of the record."""
    return [str(item) for item in value] if isinstance(value, list) else []


def text_or_none(value: object) -> str | None:
    """A stored time: text, or None for anything else (a hand-edited file may hold a number)."""
    return value if isinstance(value, str) else None


def set_aside(path: Path, reason: str) -> Progress:
    """Move a bad progress file out of the way so the learner can go on."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.broken-{stamp}")
    try:
        path.replace(aside)
        where = f"; it was kept as {aside}"
    except OSError:
        where = ""
    return Progress(path=path, warning=f"progress file {path} {reason}; starting fresh{where}")
