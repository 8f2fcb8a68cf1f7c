"""What the learner has done: solved exercises, attempts, hints seen, where they were.

Stored as ``progress.json`` in the workspace's state folder and always written
atomically. A file that cannot be read back is moved aside with a message, never
allowed to stop the tutor. Two tutors open on one workspace both save safely: each save
merges with what the other wrote, under a lock, so neither undoes the other's record.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from tutor.core import locks
from tutor.core.files import NotPlainFile, replace_atomically, write_new
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
            seen = set(mine.hints_seen)  # a set: merging stays linear in the hints
            mine.hints_seen += [h for h in theirs.hints_seen if h not in seen]
            mine.first_solved = min(solved) if solved else None
            mine.last_run = latest.last_run
            mine.status = latest.status
            mine.failing_tests = latest.failing_tests
            mine.diagnosis_hint = latest.diagnosis_hint


MAX_BYTES = 1024 * 1024  # a record of hundreds of exercises is a few tens of KB


class TooLarge(ValueError):
    """A progress file past ``MAX_BYTES``: read no further."""


def read_capped(path: Path) -> str:
    """The file's text, refusing a file past ``MAX_BYTES`` before reading it all, and a
    link, a pipe or a device, whose read could lead elsewhere or block for ever."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotPlainFile(errno.EINVAL, "not a plain file", str(path))
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise TooLarge(f"is larger than {MAX_BYTES // 1024} KB, which no progress record needs")
    return data.decode("utf-8")


def read_quietly(path: Path) -> Progress | None:
    """The stored record, or None if there is none or it cannot be read."""
    try:
        return parse(path, json.loads(read_capped(path)))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load(path: Path) -> Progress:
    """Read progress; a missing file is a fresh start, an unreadable one is moved aside, and
    odd fields are dropped with a notice (the file as it was is kept beside it)."""
    try:
        raw = read_capped(path)
    except FileNotFoundError:
        return Progress(path=path)
    except TooLarge as error:
        return set_aside(path, str(error))
    except (OSError, UnicodeDecodeError) as error:
        return set_aside(path, f"could not be read ({error})")
    try:
        data = json.loads(raw)
    except ValueError as error:
        return set_aside(path, f"is damaged ({error})")
    dropped: list[str] = []
    try:
        progress = parse(path, data, dropped)
    except ValueError as error:
        return set_aside(path, f"is damaged ({error})")
    if dropped:
        progress.warning = dropped_notice(path, raw, dropped)
    progress.synced = {key: entry.attempts for key, entry in progress.exercises.items()}
    return progress


def parse(path: Path, data: Any, dropped: list[str] | None = None) -> Progress:
    """The record in ``data``. Each field is checked on its own: an odd one (a hand edit, an
    old or a future version) is left out and named in ``dropped``, and the rest is kept."""
    odd = dropped if dropped is not None else []
    if not isinstance(data, dict):
        raise ValueError("not a progress record")
    current = data.get("current")
    if current is not None and not isinstance(current, str):
        odd.append("current")
        current = None
    progress = Progress(path=path, current=current)
    exercises = data.get("exercises", {})
    if not isinstance(exercises, dict):
        odd.append("exercises")
        exercises = {}
    for key, entry in exercises.items():
        if not isinstance(entry, dict):
            odd.append(str(key))
            continue
        progress.exercises[str(key)] = read_entry(entry, f"{key}.", odd)
    return progress


def read_entry(entry: dict[str, Any], prefix: str, dropped: list[str]) -> ExerciseProgress:
    """One exercise's record; each field left out is added to ``dropped`` after ``prefix``."""

    def drop(name: str) -> None:
        dropped.append(prefix + name)

    record = ExerciseProgress()
    status = entry.get("status", record.status.value)
    if status in set(Status) or status in LEGACY_STATUSES:
        record.status = Status(status) if status in set(Status) else LEGACY_STATUSES[status]
    else:
        drop("status")
    attempts = entry.get("attempts", 0)
    if isinstance(attempts, int) and not isinstance(attempts, bool) and attempts >= 0:
        record.attempts = attempts
    else:
        drop("attempts")
    for name in ("hints_seen", "failing_tests"):
        value = entry.get(name, [])
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            setattr(record, name, list(dict.fromkeys(value)))  # once each, in order
        else:
            drop(name)
    for name in ("first_solved", "last_run"):
        value = entry.get(name)
        if value is None or isinstance(value, str):
            setattr(record, name, value)
        else:
            drop(name)
    hint = entry.get("diagnosis_hint", "")
    if isinstance(hint, str):
        record.diagnosis_hint = hint
    else:
        drop("diagnosis_hint")
    return record


def dropped_notice(path: Path, raw: str, dropped: list[str]) -> str:
    """One line: which fields were left out, and where the file as it was is kept."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.broken-{stamp}")
    try:
        write_new(kept, raw.encode())
        where = f"; the file as it was is kept as {kept}"
    except OSError:
        where = ""
    names = ", ".join(dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
    return f"progress file {path}: left out what could not be read ({names}), kept the rest{where}"


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
