"""File writes that never leave a half-written or clobbered file behind."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotPlainFile(OSError):
    """A pipe, socket or device where a file was expected."""


def read_plain_file(path: Path) -> bytes:
    """The file's bytes. Refuses a pipe or a device, whose read could block for ever."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(mode):
        raise NotPlainFile(errno.EINVAL, "not a plain file", str(path))
    return path.read_bytes()


def copy_new(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` only if ``target`` does not exist (no race, no clobber)."""
    copy_new_bytes(target, source.read_bytes())


def copy_new_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to a new, private ``target``; ``FileExistsError`` if it exists."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def replace_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old or the new file, never half."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
