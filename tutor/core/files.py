"""File writes that never leave a half-written or clobbered file behind."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from tutor.core.private import FILE_MODE, OPEN_TO_OTHERS, open_private


class NotPlainFile(OSError):
    """A pipe, socket or device where a file was expected."""


class OutsideFolder(OSError):
    """A pack file that leads (through a link) out of its exercise folder."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(errno.EXDEV, f"{path} {reason}", str(path))
        self.reason = reason

    def __str__(self) -> str:
        return self.strerror or ""


def read_plain_file(path: Path) -> bytes:
    """The file's bytes. Refuses a pipe or a device, whose read could block for ever."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(mode):
        raise NotPlainFile(errno.EINVAL, "not a plain file", str(path))
    return path.read_bytes()


def read_inside(path: Path, folder: Path) -> bytes:
    """The bytes of ``path``, a plain file that must lie inside ``folder`` once links are
    followed: a pack's link to a file elsewhere (another user's, or the learner's own private
    one) is never copied. ``OutsideFolder`` names it."""
    home = folder.resolve()
    real = path.resolve()
    if not real.is_relative_to(home):
        raise OutsideFolder(path, f"leads outside its exercise folder (to {real}); keep it inside")
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotPlainFile(errno.EINVAL, "not a plain file", str(path))
        # Where the open landed, not where the path pointed a moment before: a folder swapped
        # for a link between the check and the open is caught here (Linux names it).
        with_proc = Path(f"/proc/self/fd/{fd}")
        if with_proc.exists():
            opened = Path(os.readlink(with_proc))
            if not opened.is_relative_to(home):
                raise OutsideFolder(path, f"leads outside its exercise folder (to {opened})")
        return handle.read()


def write_new(target: Path, data: bytes) -> None:
    """Write ``data`` to a new file of mode 0600; ``FileExistsError`` if anything is there."""
    fd = open_private(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def replace_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old or the new file, never half.

    The result has mode 0600, whatever the umask: the new file takes the temporary's mode.
    """
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        # The temporary lives in the learner's private folder; one left by a crash is reused.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_mode & OPEN_TO_OTHERS:
                os.fchmod(fd, FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
