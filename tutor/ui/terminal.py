"""The terminal driver: a terminal that goes away ends the tutor as a hang-up signal does.

When the far end of the terminal closes (tmux killed, an SSH link torn down), the kernel
sends SIGHUP only to a process that has the terminal as its controlling terminal. A tutor
started with ``setsid``, or by anything else that gave it the terminal without making it
its controlling one, gets no signal: it reads end-of-file (or EIO) from the terminal
instead. Textual's driver takes end-of-file for a piped stdin and reads again at once, for
ever, at full CPU; its output thread dies on the first write that fails; and when that
thread's queue is full, the next frame blocks the event loop, and with it the app's
signal handlers. The tutor then never ends, nor does its worker.

``TerminalDriver`` keeps Textual's driver and adds three things:

- a thread asleep in ``poll`` on the terminal (input and output) until the terminal hangs
  up, so it costs nothing while the terminal is there;
- an error reading the input is taken as the terminal gone, not as a crash;
- a write that fails is dropped, so the output thread lives and the loop never blocks.

The first two post ``TerminalGone``; the app answers it as it answers SIGHUP.
"""

from __future__ import annotations

import contextlib
import select
import threading
from typing import TYPE_CHECKING, Any, TextIO

from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

if TYPE_CHECKING:
    from textual.app import App


class TerminalGone(Message):
    """The terminal hung up or can no longer be read: nobody can see or answer the app."""


class SafeOutput:
    """The terminal's output as Textual's output thread writes it: a failure is dropped.

    Textual's thread ends on its first exception; the frames after it fill its queue, and
    the one after that waits for ever, and the event loop with it.
    """

    def __init__(self, file: TextIO) -> None:
        self.file = file

    def write(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.file.write(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self.file.flush()

    def fileno(self) -> int:
        return self.file.fileno()


class TerminalDriver(LinuxDriver):
    """Textual's Linux driver, which says when the terminal has gone (see the module)."""

    def __init__(self, app: App[Any], **options: Any) -> None:
        super().__init__(app, **options)
        if self._file is not None:  # what Textual's output thread writes to
            self._file = SafeOutput(self._file)  # type: ignore[assignment]  # writes like a file
        self.watcher: threading.Thread | None = None
        self.gone_once = threading.Lock()

    def start_application_mode(self) -> None:
        super().start_application_mode()  # type: ignore[no-untyped-call]
        if self.watcher is None:
            self.watcher = threading.Thread(target=self.watch, name="attn-hang-up", daemon=True)
            self.watcher.start()

    def watch(self) -> None:
        """Sleep until the terminal hangs up, then say so."""
        poller = select.poll()
        output = self._file
        for fd in {self.fileno} if output is None else {self.fileno, output.fileno()}:
            # An empty event mask: poll still reports POLLHUP, POLLERR and POLLNVAL, and
            # nothing else, so keys never wake this thread.
            poller.register(fd, 0)
        poller.poll()
        self.terminal_gone()

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        except OSError:  # EIO: the terminal is gone
            self.terminal_gone()

    def terminal_gone(self) -> None:
        """Stop reading the terminal and tell the app, once."""
        if not self.gone_once.acquire(blocking=False):
            return
        # Textual's reader would otherwise spin on end-of-file until the app has ended.
        self.exit_event.set()
        with contextlib.suppress(RuntimeError):  # the app's loop has already closed
            self.send_message(TerminalGone())
