"""Watch the workspace for saves of ``problem.py``, whatever way the editor saves.

The watcher observes folders, not files, so atomic saves (write a temporary file, then
rename it over the original: vim, sed -i, JetBrains, ``os.replace``) and in-place saves
(truncate and write: VS Code, nano) both arrive. It reports *which* exercise folder saw
a change; debouncing and the content check happen on the app's side.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from tutor.core.catalog import PROBLEM_FILE
from tutor.core.private import make_folder, write_private
from tutor.core.workspace import STATE_DIR

POLL_INTERVAL = 0.5


class ProblemEvents(FileSystemEventHandler):
    """Calls ``changed(folder_name)`` for any event that touches a ``problem.py``."""

    def __init__(self, root: Path, changed: Callable[[str], None]) -> None:
        self.root = root
        self.changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        for raw in paths:
            path = Path(os.fsdecode(raw)) if raw else None
            if path is not None and path.name == PROBLEM_FILE and path.parent.parent == self.root:
                self.changed(path.parent.name)
            elif path is not None and path.parent == self.root / STATE_DIR:
                self.changed("")  # the watcher's own self-check file


class Watcher:
    """Starts an inotify (or polling) observer over the workspace; falls back by itself."""

    def __init__(
        self, root: Path, folders: list[Path], changed: Callable[[str], None], *, poll: bool = False
    ) -> None:
        self.root = root
        self.folders = folders
        self.changed = changed
        self.polling = poll
        self.observer: BaseObserver | None = None
        self.reason = "polling because --poll was given" if poll else ""

    def start(self) -> None:
        try:
            self.observer = self.make(self.polling)
        except OSError as error:
            # inotify limits reached, or no inotify at all: polling always works.
            self.polling = True
            self.reason = f"watching by polling: file events are unavailable ({error.strerror})"
            self.observer = self.make(True)

    def make(self, poll: bool) -> BaseObserver:
        observer: BaseObserver = PollingObserver(timeout=POLL_INTERVAL) if poll else Observer()
        handler = ProblemEvents(self.root, self.changed)
        # Each exercise folder on its own, not the workspace tree: backups and logs stay unwatched.
        for folder in [*self.folders, self.root / STATE_DIR]:
            with contextlib.suppress(OSError):
                make_folder(folder, link_allowed=folder in self.folders)
            if folder.is_dir():  # one that cannot be created is watched by nobody, not fatal
                observer.schedule(handler, str(folder), recursive=False)
        observer.daemon = True
        observer.start()
        return observer

    def switch_to_polling(self, reason: str) -> None:
        """Used when the file events never arrive (WSL /mnt, network drives, some containers)."""
        if self.polling:
            return
        self.stop()
        self.polling = True
        self.reason = reason
        self.observer = self.make(True)

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=2)
            self.observer = None

    def probe(self) -> bool:
        """Touch a file in the state folder, whose event proves the watch works.

        False when the file cannot be written (a read-only workspace): nothing can be proved.
        """
        state = self.root / STATE_DIR
        try:
            make_folder(state)
            write_private(state / "watch-check", b"checking that file events arrive\n")
        except OSError:
            return False
        return True
