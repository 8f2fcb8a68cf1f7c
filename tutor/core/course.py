"""A learner's course: the exercise pack, their workspace and their progress, opened together."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tutor.core import catalog as catalog_module
from tutor.core import locks
from tutor.core import progress as progress_module
from tutor.core.catalog import Catalog, Exercise, PackProblem
from tutor.core.fingerprint import is_builtin, record_path
from tutor.core.hints import NextHint, next_hint
from tutor.core.private import SymlinkRefused, refuse_symlink
from tutor.core.progress import Progress, Status
from tutor.core.workspace import Workspace, WorkspaceError, choose_root


@dataclass(frozen=True)
class SaveFailure:
    """Why progress was not saved, in one line for the learner."""

    text: str
    locked: bool = False  # another process held the lock: a later try may succeed

    def __str__(self) -> str:
        return self.text


@dataclass
class Course:
    """Everything the CLI and the app need about where the learner stands."""

    catalog: Catalog
    workspace: Workspace
    progress: Progress
    created: list[Exercise] = field(default_factory=list)  # skeletons copied on this start
    messages: list[str] = field(default_factory=list)  # things the learner should be told once

    def problem(self, exercise: Exercise) -> Path:
        return self.workspace.problem(exercise)

    @property
    def pack_record(self) -> Path | None:
        """Where the workspace keeps the pack's fingerprint; None for the built-in pack,
        whose fingerprint ships with the tutor."""
        if is_builtin(self.catalog.root):
            return None
        return record_path(self.workspace.state, self.catalog.root)

    def status(self, exercise: Exercise) -> Status:
        return self.progress.of(exercise.key).status

    def next_hint(self, exercise: Exercise) -> NextHint | None:
        """The hint the learner would see next, after their latest counted run."""
        entry = self.progress.of(exercise.key)
        return next_hint(exercise, entry.hints_seen, entry.failure)

    def reveal_hint(self, exercise: Exercise) -> NextHint | None:
        """Mark the next hint as seen and return it (save the progress afterwards)."""
        found = self.next_hint(exercise)
        if found is not None:
            self.progress.see_hint(exercise.key, found.hint.id)
        return found

    def neighbour(self, exercise: Exercise, step: int) -> Exercise | None:
        """The exercise ``step`` places after (or before) this one, if there is one."""
        exercises = self.catalog.exercises
        index = self.catalog.index(exercise) + step
        return exercises[index] if 0 <= index < len(exercises) else None

    def current(self) -> Exercise | None:
        """The exercise the learner was on, else the first not yet solved."""
        if self.progress.current:
            found = self.catalog.find(self.progress.current)
            if found is not None:
                return found
        solved = self.progress.solved
        for exercise in self.catalog.exercises:
            if exercise.key not in solved:
                return exercise
        return self.catalog.exercises[0] if self.catalog.exercises else None

    def save_progress(self, wait: float = locks.WAIT) -> SaveFailure | None:
        """Save; returns why not instead of raising when the disk or the lock refuses.

        ``wait``: the longest the progress lock is waited for (see ``tutor.core.locks``).
        """
        try:
            self.progress.save(wait)
        except OSError as error:
            return SaveFailure(
                f"could not save progress to {self.progress.path} ({error.strerror}); "
                "your code is safe, but solved marks and hints seen since the last save are not",
                locked=isinstance(error, locks.LockHeld),
            )
        return None


def open_course(pack: Path | None, workspace: Path | None) -> Course:
    """Load the pack, prepare the workspace (copying new skeletons), and read progress.

    Raises ``WorkspaceError`` with a message for the learner when it cannot go on.
    """
    builtin = catalog_module.builtin_pack()
    root = (pack or builtin).expanduser()
    catalog = catalog_module.load(root)
    if not catalog.exercises:
        details = "; ".join(str(problem) for problem in catalog.problems)
        if all(problem.path == root for problem in catalog.problems):
            raise WorkspaceError(details)  # the pack itself: its path starts the line already
        raise WorkspaceError(f"no exercises could be loaded from {root}: {details}")
    space = Workspace(choose_root(workspace, root, builtin))
    first_use = not space.state.exists()
    prepared = space.ensure(catalog)
    refuse(catalog, prepared.refused)
    course = Course(
        catalog=catalog,
        workspace=space,
        progress=read_progress(space.state / "progress.json"),
        created=prepared.created,
    )
    if first_use:
        course.messages.append(f"your workspace is {space.root} (edit the problem.py files there)")
    elif prepared.created:
        names = ", ".join(exercise.key for exercise in prepared.created)
        course.messages.append(f"new exercises added to your workspace: {names}")
    if prepared.notice:
        course.messages.append(prepared.notice)
    if course.progress.warning:
        course.messages.append(course.progress.warning)
    return course


def refuse(catalog: Catalog, problems: list[PackProblem]) -> None:
    """Move the exercises the workspace refused to the pack's problems, where every view
    reports skipped exercises; the rest go on."""
    if not problems:
        return
    refused = {problem.path.parent for problem in problems}
    catalog.exercises = [e for e in catalog.exercises if e.path not in refused]
    catalog.problems += problems
    if not catalog.exercises:
        details = "; ".join(str(problem) for problem in problems)
        raise WorkspaceError(f"no exercises could be copied from {catalog.root}: {details}")


def read_progress(path: Path) -> Progress:
    """The stored progress; a link in its place is not read, and the learner is told."""
    try:
        refuse_symlink(path)
    except SymlinkRefused as error:
        return Progress(path=path, warning=str(error))
    return progress_module.load(path)
