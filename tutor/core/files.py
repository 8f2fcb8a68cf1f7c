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
    data = source.read_bytes()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def replace_atomically(target: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``target`` so that readers see the old or the new file, never half.

    ``mode`` sets the new file's permissions exactly (``0o600``: the owner's alone).
    """
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        first = 0o600 if mode is not None else 0o666  # never readable by others on the way
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, first)
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(fd, mode)  # whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
