"""A learner's course: the exercise pack, their workspace and their progress, opened together."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tutor.core import catalog as catalog_module
from tutor.core import progress as progress_module
from tutor.core.catalog import Catalog, Exercise
from tutor.core.progress import Progress
from tutor.core.workspace import Workspace, WorkspaceError, choose_root


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

    def status(self, exercise: Exercise) -> str:
        return self.progress.of(exercise.key).status

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

    def save_progress(self) -> str | None:
        """Save; returns a message instead of raising when the disk refuses."""
        try:
            self.progress.save()
        except OSError as error:
            return (
                f"could not save progress to {self.progress.path} ({error.strerror}); "
                "your code is safe, but solved marks and hints seen since the last save are not"
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
    created = space.ensure(catalog)
    course = Course(
        catalog=catalog,
        workspace=space,
        progress=progress_module.load(space.state / "progress.json"),
        created=created,
    )
    if first_use:
        course.messages.append(f"your workspace is {space.root} (edit the problem.py files there)")
    elif created:
        names = ", ".join(exercise.key for exercise in created)
        course.messages.append(f"new exercises added to your workspace: {names}")
    if course.progress.warning:
        course.messages.append(course.progress.warning)
    return course
