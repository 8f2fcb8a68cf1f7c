"""Locks no other user can hold, and waits for them that end.

Every lock of the tutor is an ``flock`` on a file of mode 0600, opened without following a
link, inside the learner's private state folder. A wait is never longer than ``WAIT``;
then ``LockHeld`` says which process holds the lock, so a stuck or hostile holder costs a
message, never a frozen tutor. Linux lists every ``flock`` in ``/proc/locks`` by device and
inode, with the holder's process id, whoever owns that process: that names the holder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pwd
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tutor.core.files import NotPlainFile
from tutor.core.private import open_private
from tutor.core.words import cut_at_word, printable

WAIT = 3.0  # seconds a lock is waited for before the holder is named
POLL = 0.05  # seconds between tries while waiting
SUFFIX = ".lock"  # what every lock file's name ends with
PROC_LOCKS = Path("/proc/locks")
COMMAND_LIMIT = 80  # characters of the holder's command line shown


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: a process when Linux says which, else the lock file's owner."""

    pid: int | None
    user: str = ""
    command: str = ""

    def __str__(self) -> str:
        if self.pid is None:
            owner = f" (the lock file belongs to {self.user})" if self.user else ""
            return f"a process that cannot be named here{owner}"
        details = ": ".join(
            part for part in (f"user {self.user}" if self.user else "", self.command) if part
        )
        return f"process {self.pid}" + (f" ({details})" if details else "")


class LockHeld(OSError):
    """A lock stayed held by another process for the whole wait; the message names it."""

    def __init__(self, path: Path, holder: Holder) -> None:
        find = f"`ps -p {holder.pid}` shows it; " if holder.pid is not None else ""
        super().__init__(
            errno.EAGAIN,
            f"{path} is held by {holder}; {find}end that process or ask its owner to",
            str(path),
        )
        self.holder = holder

    def __str__(self) -> str:
        return self.strerror or ""


def acquire(path: Path, wait: float = WAIT) -> int:
    """A descriptor holding an exclusive lock on ``path`` (created 0600 if needed).

    Closing the descriptor releases the lock. Raises ``LockHeld`` when another process
    keeps it for ``wait`` seconds (0: one try), ``SymlinkRefused`` for a link at ``path``.
    """
    fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotPlainFile(errno.EINVAL, "not a plain file", str(path))
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(path, holder_of(fd)) from None
                time.sleep(POLL)
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def held(path: Path, wait: float = WAIT) -> Iterator[int]:
    """Hold the lock on ``path`` for the block (see ``acquire``)."""
    fd = acquire(path, wait)
    try:
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def holder_of(fd: int) -> Holder:
    """Who holds the lock on the file open as ``fd``, as far as this system tells."""
    info = os.fstat(fd)
    pid = flock_holder(info.st_dev, info.st_ino)
    if pid is None:
        return Holder(None, user=user_name(info.st_uid))
    return describe(pid)


def flock_holder(device: int, inode: int) -> int | None:
    """The process id ``/proc/locks`` gives for an ``flock`` on this file; None if none."""
    try:
        table = PROC_LOCKS.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None  # not Linux, or /proc is not mounted
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2146409 0 EOF"; "1: -> FLOCK …" is a waiter.
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        try:
            major, minor, number = fields[5].split(":")
            found = (int(major, 16), int(minor, 16), int(number))
            pid = int(fields[4])
        except ValueError:
            continue
        if found == (os.major(device), os.minor(device), inode) and pid > 0:
            return pid
    return None


def describe(pid: int) -> Holder:
    """The process's user and command line, when ``/proc`` lets them be read."""
    proc = Path("/proc") / str(pid)
    try:
        user = user_name(proc.stat().st_uid)
    except OSError:
        return Holder(pid)
    try:
        raw = (proc / "cmdline").read_bytes()
    except OSError:
        raw = b""
    words = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", errors="replace")
    # Another user's command line is their text: shown as text, on one line, and short.
    command = cut_at_word(" ".join(printable(words).split()), COMMAND_LIMIT)
    return Holder(pid, user=user, command=command)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
