"""Fingerprints of the files a test run trusts, so that a changed one stops the run.

Learner code runs as the learner, so it can change whatever the learner can write: a pack's
tests, or the tutor's own modules when the tutor is the learner's own clone. A changed test
would make every later attempt pass. So the worker checks, before every run, the files of
the run's exercise and the tutor's run-side modules (``tutor/core``, ``tutor/kit``,
``tutor/worker``) against a fingerprint (sha256) that outlives the process:

- ``tutor/manifest.json``, shipped with the tutor, for its own modules and the built-in
  pack (regenerated after a deliberate change with ``python -m tutor.core.fingerprint``);
- a record in the workspace's state folder for any other pack, written the first time the
  pack is used (``attn-tutor trust`` writes it again when the pack's author changed it);
- for a pack run with no workspace (``verify``, the tutor's own tests), the files as they
  were when the worker first ran one of its exercises.

A check reads again only the files whose size, times or inode changed since they were last
found intact, so it costs a few ``stat`` calls per run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shlex
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import unquote

from tutor.core.catalog import UNREAD, builtin_pack, exercise_folders
from tutor.core.files import replace_atomically
from tutor.core.private import make_folder
from tutor.core.workspace import STATE_DIR, choose_root, pack_label

PACKAGE = Path(__file__).resolve().parent.parent  # the tutor package
MANIFEST_FILE = "manifest.json"
TUTOR_PARTS = ("core", "kit", "worker")  # what a run imports of the tutor, besides __init__.py
REGENERATE = "uv run python -m tutor.core.fingerprint"
RECORDS_DIR = "fingerprints"  # in the workspace's state folder, one record per pack

Digests = dict[str, str]  # sha256 by path relative to the fingerprinted folder, with "/"
StatKey = tuple[int, int, int, int, int]


class Kind(StrEnum):
    """How a file differs from its fingerprint."""

    CHANGED = "has changed"
    ADDED = "has been added"
    REMOVED = "has been removed"


@dataclass(frozen=True, order=True)
class Change:
    """One file that differs from its fingerprint, named relative to the fingerprinted folder."""

    name: str
    kind: Kind


def ignored(name: str) -> bool:
    """Never fingerprinted: hidden names (an editor's swap file), bytecode caches."""
    return name.startswith(".") or name == "__pycache__" or name.endswith(".pyc")


def digest(path: Path | str) -> str:
    """The file's sha256; for something that cannot be read as a file, what it is instead."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe must not block the worker
    except OSError as error:
        return f"unreadable ({errno.errorcode.get(error.errno or 0, 'error')})"
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not a plain file"
        return hashlib.file_digest(handle, "sha256").hexdigest()


def stat_key(path: Path | str) -> StatKey | None:
    """What changes whenever a file's content does (the change time cannot be set back)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


def walk(root: Path, folder: str) -> list[str]:
    """Every file under ``root/folder``, as ``folder/...``, following each linked folder once."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()

    def visit(path: str, name: str) -> None:
        try:
            info = os.stat(path)
            entries = list(os.scandir(path))
        except OSError:
            return
        if (info.st_dev, info.st_ino) in seen:
            return  # a link back to a folder already listed
        seen.add((info.st_dev, info.st_ino))
        for entry in entries:
            if ignored(entry.name):
                continue
            inner = f"{name}/{entry.name}"
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                visit(entry.path, inner)
            else:
                found.append(inner)

    visit(os.path.join(root, folder), folder)
    return found


def exercise_files(pack: Path, folder: str) -> list[str]:
    """The files of one exercise folder a run reads: tests, conftest, probe, solution,
    mutants, data. The skeleton, the lesson and exercise.toml are read by no run."""
    return sorted(name for name in walk(pack, folder) if name.split("/", 1)[1] not in UNREAD)


def pack_files(pack: Path) -> list[str]:
    """The files every exercise folder of the pack gives its runs."""
    names: list[str] = []
    for folder in exercise_folders(pack):
        names += exercise_files(pack, folder.name)
    return names


def tutor_files(package: Path) -> list[str]:
    """The tutor's own modules that a run imports."""
    names = ["__init__.py"] if (package / "__init__.py").exists() else []
    for part in TUTOR_PARTS:
        names += (name for name in walk(package, part) if name.endswith(".py"))
    return sorted(names)


def fingerprint(root: Path, names: Iterable[str]) -> Digests:
    return {name: digest(root / name) for name in names}


def differences(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[Change]:
    """How ``actual`` differs from ``expected``, file by file."""
    changes = [Change(name, Kind.REMOVED) for name in expected if name not in actual]
    for name, value in actual.items():
        if name not in expected:
            changes.append(Change(name, Kind.ADDED))
        elif expected[name] != value:
            changes.append(Change(name, Kind.CHANGED))
    return sorted(changes)


class Seal:
    """The digests a folder's files should have, and a cheap check of them.

    ``files(prefix)`` lists the files under ``prefix`` as they are now ('' for all of them).
    A lazy seal takes each prefix's fingerprint the first time it is checked.
    """

    def __init__(
        self,
        root: Path,
        expected: Mapping[str, str],
        files: Callable[[str], list[str]],
        *,
        lazy: bool = False,
    ) -> None:
        self.root = root
        self.expected = dict(expected)
        self.files = files
        self.lazy = lazy
        self.adopted: set[str] = set()
        self.intact: dict[str, StatKey] = {}  # files found as expected, with their stat then

    def check(self, prefix: str = "") -> list[Change]:
        now = self.files(prefix)
        if self.lazy and prefix not in self.adopted:
            self.adopted.add(prefix)
            self.expected.update(fingerprint(self.root, now))
        start = f"{prefix}/" if prefix else ""
        present = set(now)
        changes = [
            Change(name, Kind.REMOVED)
            for name in self.expected
            if name.startswith(start) and name not in present
        ]
        root = str(self.root)  # strings, not Paths: this runs before every run
        for name in now:
            wanted = self.expected.get(name)
            if wanted is None:
                changes.append(Change(name, Kind.ADDED))
                continue
            path = f"{root}/{name}"
            key = stat_key(path)
            if key is not None and self.intact.get(name) == key:
                continue
            if digest(path) == wanted:
                if key is not None:
                    self.intact[name] = key
            else:
                self.intact.pop(name, None)
                changes.append(Change(name, Kind.CHANGED))
        return sorted(changes)


# ----- the manifest shipped with the tutor


@dataclass(frozen=True)
class Manifest:
    """The fingerprints of the tutor's run-side modules and of the built-in pack."""

    tutor: Digests
    exercises: Digests

    @classmethod
    def take(cls, package: Path = PACKAGE, pack: Path | None = None) -> Manifest:
        """The manifest of the files as they are now."""
        pack = pack or builtin_pack()
        return cls(
            tutor=fingerprint(package, tutor_files(package)),
            exercises=fingerprint(pack, pack_files(pack)),
        )

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        payload = read_json(path)
        if payload is None:
            return None
        tutor, exercises = payload.get("tutor"), payload.get("exercises")
        if is_digests(tutor) and is_digests(exercises):
            return cls(tutor=dict(tutor), exercises=dict(exercises))
        return None

    def write(self, path: Path) -> None:
        payload = {
            "about": f"sha256 of the tutor's run-side modules and of the built-in exercises; "
            f"regenerate with `{REGENERATE}`",
            "tutor": self.tutor,
            "exercises": self.exercises,
        }
        path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    def changes(self, newer: Manifest) -> list[Change]:
        """What ``newer`` changed, named as in the source tree (tutor/..., exercises/...)."""
        named = [
            *(Change(f"tutor/{c.name}", c.kind) for c in differences(self.tutor, newer.tutor)),
            *(
                Change(f"exercises/{c.name}", c.kind)
                for c in differences(self.exercises, newer.exercises)
            ),
        ]
        return sorted(named)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def is_digests(value: object) -> TypeGuard[Digests]:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def stale_manifest(package: Path = PACKAGE, pack: Path | None = None) -> list[Change]:
    """How the files differ from the manifest shipped beside them (nothing: it is current)."""
    stored = Manifest.read(package / MANIFEST_FILE) or Manifest(tutor={}, exercises={})
    return stored.changes(Manifest.take(package, pack))


# ----- the record of another pack, in the workspace


def is_builtin(pack: Path | None) -> bool:
    """Whether ``pack`` (None: the default) is the built-in pack, fingerprinted by the manifest."""
    return pack is None or pack.expanduser().resolve() == builtin_pack().resolve()


def record_path(state: Path, pack: Path) -> Path:
    """Where a workspace keeps the fingerprint of a pack that is not the built-in one."""
    return state / RECORDS_DIR / f"{pack_label(pack)}.json"


def read_record(path: Path, pack: Path) -> Digests | None:
    payload = read_json(path)
    if payload is None or payload.get("pack") != str(pack.resolve()):
        return None
    files = payload.get("files")
    return dict(files) if is_digests(files) else None


def write_record(path: Path, pack: Path, digests: Digests) -> None:
    """Keep the pack's fingerprint, readable by its owner alone."""
    make_folder(path.parent)
    payload = {"pack": str(pack.resolve()), "files": digests}
    data = (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode()
    replace_atomically(path, data)  # 0600


def trust(pack: Path, record: Path) -> list[Change] | None:
    """Record the pack as it is now; returns how it differs from what was recorded before
    (None: nothing was)."""
    now = fingerprint(pack, pack_files(pack))
    before = read_record(record, pack)
    write_record(record, pack, now)
    return None if before is None else differences(before, now)


def trust_command(pack: Path, record: Path) -> str:
    """The command that accepts the pack as it is now, for the workspace that holds ``record``."""
    command = f"attn-tutor trust --exercises {shlex.quote(str(pack))}"
    builtin = builtin_pack()
    with contextlib.suppress(OSError):
        if record_path(choose_root(None, pack, builtin) / STATE_DIR, pack) == record:
            return command
    workspace = record.parent.parent.parent  # WORKSPACE/.attn-tutor/fingerprints/PACK.json
    return f"{command} --workspace {shlex.quote(str(workspace))}"


# ----- how to put a changed file back


def source_checkout(package: Path = PACKAGE) -> Path | None:
    """The git checkout the tutor runs from (``uv run`` in a clone), if it does."""
    root = package.parent
    if (root / ".git").exists() and (root / "pyproject.toml").is_file():
        return root
    return None


def install_record(name: str) -> str:
    """One file of the installed tutor's metadata (``INSTALLER``, ``direct_url.json``)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        return distribution("attn-tutor").read_text(name) or ""
    except PackageNotFoundError:
        return ""


def install_source() -> str:
    """Where the installed tutor came from, as an installer names it."""
    try:
        found = json.loads(install_record("direct_url.json") or "{}")
    except ValueError:
        found = {}
    url = found.get("url", "") if isinstance(found, dict) else ""
    if isinstance(url, str) and url.startswith("file://"):
        return shlex.quote(unquote(url.removeprefix("file://")))
    return "attn-tutor"


def reinstall_advice(path: Path, package: Path = PACKAGE) -> str:
    """How to get the shipped version of one of the tutor's files back, for this install."""
    checkout = source_checkout(package)
    if checkout is not None:
        try:
            shown = path.relative_to(checkout).as_posix()
        except ValueError:
            shown = str(path)
        return (
            f"restore it with `git checkout -- {shlex.quote(shown)}` in {checkout}; if you "
            f"changed it on purpose, regenerate the manifest there with `{REGENERATE}`"
        )
    prefix = Path(sys.prefix).as_posix()
    if "/uv/tools/" in f"{prefix}/":
        command = f"uv tool install --reinstall {install_source()}"
    elif "/pipx/venvs/" in f"{prefix}/":
        command = "pipx reinstall attn-tutor"
    elif install_record("INSTALLER").strip() == "uv":
        command = "uv sync --reinstall-package attn-tutor"
    else:
        command = f"pip install --force-reinstall {install_source()}"
    return f"reinstall the tutor to restore it: `{command}`"


# ----- what the worker checks before each run


@dataclass
class Sealed:
    """A folder under seal, and how its files are named, dated and restored for the learner."""

    seal: Seal
    since: str  # the moment the fingerprint stands for
    advice: Callable[[Path], str]  # how to restore a changed file

    def message(self, changes: list[Change]) -> str:
        first = changes[0]
        more = len(changes) - 1
        others = f" (and {more} other file{'s' if more > 1 else ''})" if more else ""
        path = self.seal.root / first.name
        return f"{path} {first.kind.value}{others} since {self.since}: {self.advice(path)}."


@dataclass
class Integrity:
    """The tutor's modules and every pack's files, as the worker found them when it started."""

    tutor: Sealed
    packs: dict[Path, Sealed] = field(default_factory=dict)  # by resolved root
    problem: str = ""  # why nothing can be checked; every run stops with it

    @classmethod
    def open(
        cls,
        pack: Path | None = None,
        record: Path | None = None,
        *,
        package: Path = PACKAGE,
        builtin: Path | None = None,
    ) -> Integrity:
        """Fingerprint now, before any learner code: ``pack`` is the pack the tutor opened,
        ``record`` where its workspace keeps that pack's fingerprint."""
        builtin = (builtin or builtin_pack()).resolve()
        path = package / MANIFEST_FILE
        manifest = Manifest.read(path)

        def reinstall(changed: Path) -> str:
            return reinstall_advice(changed, package)

        tutor = Sealed(
            Seal(
                package,
                manifest.tutor if manifest else {},
                lambda _: tutor_files(package),
            ),
            since="the tutor was installed",
            advice=reinstall,
        )
        integrity = cls(tutor=tutor)
        if manifest is None:
            integrity.problem = (
                f"the tutor's manifest {path} is missing or damaged, so the files the tests "
                f"rely on cannot be checked: {reinstall(path)}"
            )
            return integrity
        integrity.packs[builtin] = Sealed(
            Seal(builtin, manifest.exercises, lambda folder: exercise_files(builtin, folder)),
            since="the tutor was installed",
            advice=reinstall,
        )
        if pack is not None and pack.resolve() not in integrity.packs:
            integrity.add_pack(pack.resolve(), record)
        return integrity

    def add_pack(self, root: Path, record: Path | None) -> Sealed:
        def files(folder: str) -> list[str]:
            return exercise_files(root, folder)

        if record is None:
            # No workspace to keep it in: the pack as the worker first finds each exercise.
            return self.packs.setdefault(
                root,
                Sealed(
                    Seal(root, {}, files, lazy=True),
                    since="the test worker first ran this exercise",
                    advice=lambda _: (
                        "restore it; a new start of the tutor takes the pack as it is then"
                    ),
                ),
            )
        digests = read_record(record, root)
        if digests is None:
            try:
                digests = fingerprint(root, pack_files(root))
            except OSError:
                return self.add_pack(root, None)
            with contextlib.suppress(OSError):  # a read-only workspace: kept for this run only
                write_record(record, root, digests)
        accept = trust_command(root, record)
        sealed = Sealed(
            Seal(root, digests, files),
            since="the tutor first used this pack",
            advice=lambda _: (
                "restore the pack from where it came from; if its author changed "
                f"it on purpose, accept it as it is now with `{accept}`"
            ),
        )
        self.packs[root] = sealed
        return sealed

    def check(self, exercise_dir: Path) -> str:
        """Why a run of this exercise must not start: a changed file, named, and how to
        restore it; '' when every file is as fingerprinted."""
        if self.problem:
            return self.problem
        try:
            changes = self.tutor.seal.check()
            if changes:
                return self.tutor.message(changes)
            folder = exercise_dir.resolve()
            sealed = self.packs.get(folder.parent) or self.add_pack(folder.parent, None)
            changes = sealed.seal.check(folder.name)
        except (OSError, RuntimeError, ValueError) as error:  # a symbolic link loop, say
            return f"the files of {exercise_dir} could not be checked: {error}"
        return sealed.message(changes) if changes else ""


def main() -> None:
    """``python -m tutor.core.fingerprint``: write the manifest of the files as they are now."""
    path = PACKAGE / MANIFEST_FILE
    stored = Manifest.read(path)
    fresh = Manifest.take()
    fresh.write(path)
    for change in stored.changes(fresh) if stored else ():
        print(f"  {change.name} {change.kind.value}")
    print(
        f"wrote {path}: {len(fresh.tutor)} files of the tutor, "
        f"{len(fresh.exercises)} of the built-in exercises"
    )


if __name__ == "__main__":
    main()
