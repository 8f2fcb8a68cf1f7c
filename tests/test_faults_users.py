"""The fault suite, part five: two users on one host, a learner and a peer who is not kind.

As root, the suite creates two ordinary users (``attn-learner`` and ``attn-peer``, once, with
``useradd -m``) and runs the real ``attn-tutor`` as the learner, on a workspace in a home the
learner owns, with the umask most hosts give (022). The peer then tries to read that workspace,
to hold its locks, and to plant modules in a shared folder the learner starts the tutor from.
Each attempt must fail, and the learner's ``check`` must still give its usual verdict.
Without root there is no second user to play the peer: the tests skip and say so.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import pwd
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import termios
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fcntl import ioctl
from pathlib import Path

import pytest

import tutor
from tutor.core.workspace import STATE_DIR

pytestmark = [pytest.mark.fault, pytest.mark.slow]

LEARNER = "attn-learner"
PEER = "attn-peer"
UMASK = 0o022
EXERCISE = "02-attention-basics"
PLANTED = ("torch", "pytest", "tutor")
SCRIPT = Path(sys.executable).with_name("attn-tutor")  # the installed command, as learners run it

# What the peer runs: read files, hold a lock until told to stop, or plant modules.
# Started with -I -S: nothing of the peer's own environment, and fast.
PEER_ACTIONS = """
import fcntl, json, os, sys
action, *paths = sys.argv[1:]
if action == "read":
    seen = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                handle.read()
            seen[path] = "read"
        except PermissionError:
            seen[path] = "denied"
        except OSError as error:
            seen[path] = error.strerror
    print(json.dumps(seen))
elif action == "hold":
    try:
        fd = os.open(paths[0], os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except PermissionError:
        print("denied", flush=True)
    except OSError as error:
        print(error.strerror, flush=True)
    else:
        print("held", flush=True)
        sys.stdin.read()  # hold until the test closes our stdin
elif action == "plant":
    folder = paths[0]
    for name in paths[1:]:
        marker = os.path.join(folder, f"ran-{name}")
        with open(os.path.join(folder, f"{name}.py"), "w") as handle:
            handle.write(f"open({marker!r}, 'w').close()\\n")
    print("planted")
"""


@dataclass(frozen=True)
class Done:
    """How a command run as a user ended."""

    code: int | None  # None: it did not end within its limit and was killed
    stdout: str
    stderr: str
    seconds: float


@dataclass(repr=False)
class Host:
    """Two users on this machine, the learner's home and workspace, and a shared folder."""

    learner: pwd.struct_passwd
    peer: pwd.struct_passwd
    home: Path  # the learner's home for these tests: theirs, 0755 as useradd -m leaves it
    shared: Path  # a folder anyone may write to, like /tmp or a class folder
    baseline: Done  # the learner's first check, nobody interfering
    verdict: str

    def __repr__(self) -> str:
        return f"Host({self.learner.pw_name} in {self.home}, {self.peer.pw_name})"

    @property
    def workspace(self) -> Path:
        return self.home / "attn-tutor"

    @property
    def state(self) -> Path:
        return self.workspace / STATE_DIR

    def check_limit(self) -> float:
        """Seconds a check may take: as long as the first one, plus room for a bounded wait."""
        return self.baseline.seconds + 10


def environment(user: pwd.struct_passwd, home: Path | None = None) -> dict[str, str]:
    return {
        "HOME": str(home or user.pw_dir),
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
    }


def as_user(
    user: pwd.struct_passwd,
    command: Sequence[str],
    *,
    cwd: Path,
    limit: float,
    home: Path | None = None,
) -> Done:
    """Run ``command`` as ``user`` (umask 022); killed with its whole group past ``limit``."""
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=environment(user, home),
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        umask=UMASK,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=limit)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        code = None
    return Done(code, stdout, stderr, time.monotonic() - start)


def peer_python(*args: str) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", PEER_ACTIONS, *args]


def check(host: Host, cwd: Path) -> Done:
    """The learner's ``attn-tutor check 2 --json``."""
    return as_user(
        host.learner,
        [str(SCRIPT), "check", EXERCISE[:2], "--json"],
        cwd=cwd,
        limit=host.check_limit(),
        home=host.home,
    )


def verdict_of(done: Done) -> str | None:
    """The verdict ``check --json`` printed, or None."""
    try:
        return str(json.loads(done.stdout)["verdict"])
    except (ValueError, KeyError, TypeError):
        return None


def went_on(host: Host, done: Done) -> list[str]:
    """What went wrong with a learner's check: hung, no verdict, another verdict, a traceback."""
    problems = []
    if done.code is None:
        problems.append(f"the learner's check did not end within {host.check_limit():.0f} s")
    elif verdict_of(done) != host.verdict:
        problems.append(
            f"the learner's check gave {verdict_of(done)!r} (exit {done.code}), not the usual "
            f"{host.verdict!r}; it said: {done.stderr.strip()[-500:]}"
        )
    unclear = [line for line in done.stderr.splitlines() if not line.startswith("attn-tutor:")]
    if done.code is not None and unclear:
        problems.append("the learner's check wrote more than clear lines: " + "\n".join(unclear))
    return problems


# ----- setting the host up


def ensure_user(name: str) -> pwd.struct_passwd:
    """The user ``name``, created with a home if missing."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    done = subprocess.run(["useradd", "-m", name], capture_output=True, text=True)
    if done.returncode != 0 and "already exists" not in done.stderr:
        pytest.skip(f"could not create the user {name}: {done.stderr.strip()}")
    return pwd.getpwnam(name)


@contextlib.contextmanager
def traversable(paths: Sequence[Path]) -> Iterator[None]:
    """Let every user pass through the folders above ``paths`` for the block, then put back.

    The project's interpreter may live under a folder only root may enter (/root is 0700).
    Only the search bit is added: nobody can list those folders.
    """
    changed: dict[Path, int] = {}
    try:
        for path in paths:
            for folder in [path, *path.parents]:
                if folder in changed or not folder.is_dir():
                    continue
                mode = stat.S_IMODE(folder.stat().st_mode)
                if not mode & stat.S_IXOTH:
                    changed[folder] = mode
                    folder.chmod(mode | stat.S_IXOTH)
        yield
    finally:
        for folder, mode in changed.items():
            with contextlib.suppress(OSError):
                folder.chmod(mode)


def open_app_once(learner: pwd.struct_passwd, home: Path, workspace: Path) -> None:
    """The learner opens the app at 80x24 until its start-up run is judged, then presses q.

    So the workspace has everything an open tutor leaves: tutor.lock and worker.log.
    """
    main, secondary = pty.openpty()
    ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [str(SCRIPT)],
        cwd=home,
        env=environment(learner, home),
        user=learner.pw_uid,
        group=learner.pw_gid,
        extra_groups=[],
        umask=UMASK,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    state = workspace / STATE_DIR
    start = time.monotonic()
    seen = b""
    pressed = 0.0
    try:
        while process.poll() is None and time.monotonic() - start < 120:
            if select.select([main], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):  # EIO once the app has let go of it
                    seen += os.read(main, 65536)
            # The status line says "last run" once the worker is warm and has run once.
            ready = b"last run" in seen and (state / "worker.log").exists()
            if ready and (state / "tutor.lock").exists() and time.monotonic() - pressed > 5:
                os.write(main, b"q")
                pressed = time.monotonic()
        if process.poll() is None:
            raise AssertionError(f"the learner's app did not quit; it showed: {seen[-2000:]!r}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(main)


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    if os.geteuid() != 0:
        pytest.skip("needs root: it creates two users (useradd -m) to play a learner and a peer")
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd to create the learner and the peer")
    if not SCRIPT.exists():
        pytest.skip(f"no attn-tutor command beside {sys.executable}; run `uv sync` first")
    learner, peer = ensure_user(LEARNER), ensure_user(PEER)
    base = Path(tempfile.mkdtemp(prefix="attn-users-"))
    reachable = [
        Path(sys.executable).parent,
        Path(os.path.realpath(sys.executable)).parent,
        Path(sys.base_prefix),
        Path(sysconfig.get_paths()["stdlib"]),
        Path(sysconfig.get_paths()["purelib"]),
        Path(tutor.__file__).parent.parent,
        base,
    ]
    try:
        with traversable(reachable):
            base.chmod(0o755)
            home = base / "learner"
            home.mkdir(mode=0o755)
            os.chown(home, learner.pw_uid, learner.pw_gid)
            shared = base / "shared"
            shared.mkdir()
            shared.chmod(0o1777)
            usable = as_user(
                learner,
                [
                    sys.executable,
                    "-I",
                    "-c",
                    "import importlib.util, tutor.cli; "
                    "open(importlib.util.find_spec('torch').origin).close()",
                ],
                cwd=home,
                limit=30,
            )
            if usable.code != 0:
                pytest.skip(
                    f"{sys.executable} and its packages cannot be used by another user here: "
                    f"{usable.stderr.strip().splitlines()[-1:]}"
                )
            first = as_user(
                learner,
                [str(SCRIPT), "check", EXERCISE[:2], "--json"],
                cwd=home,
                limit=120,
                home=home,
            )
            verdict = verdict_of(first)
            assert verdict is not None, (
                f"the learner cannot run attn-tutor check at all (exit {first.code}): "
                f"{first.stderr[-2000:]}"
            )
            workspace = home / "attn-tutor"
            reset = as_user(
                learner, [str(SCRIPT), "reset", EXERCISE[:2]], cwd=home, limit=60, home=home
            )
            assert reset.code == 0, reset.stderr
            open_app_once(learner, home, workspace)
            yield Host(learner, peer, home, shared, first, verdict)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ----- the tests


def test_the_learner_runs_the_tutor_in_a_workspace_of_their_own(host: Host) -> None:
    """The ground the other tests stand on: the learner's check works, in their own home."""
    assert host.verdict == "failed", host.baseline.stdout[-2000:]  # the skeleton: not yet
    assert host.workspace.stat().st_uid == host.learner.pw_uid
    assert (host.workspace / EXERCISE / "problem.py").stat().st_uid == host.learner.pw_uid


def learner_files(host: Host) -> dict[str, Path]:
    backups = sorted((host.state / "backups" / EXERCISE).glob("problem-*.py"))
    return {
        "problem.py": host.workspace / EXERCISE / "problem.py",
        "progress.json": host.state / "progress.json",
        "worker.log": host.state / "worker.log",
        "a backup": backups[0] if backups else host.state / "backups" / EXERCISE / "(none)",
    }


@pytest.mark.parametrize("name", ["problem.py", "progress.json", "worker.log", "a backup"])
def test_a_peer_cannot_read_the_learners_workspace(host: Host, name: str) -> None:
    path = learner_files(host)[name]
    assert path.is_file(), f"the learner's tutor left no {name} to try ({path})"
    done = as_user(host.peer, peer_python("read", str(path)), cwd=host.shared, limit=30)
    assert done.code == 0, done.stderr
    result = json.loads(done.stdout)[str(path)]
    mode = stat.filemode(path.stat().st_mode)
    folder = stat.filemode(path.parent.stat().st_mode)
    assert result == "denied", (
        f"the peer could read the learner's {name} ({result}): the file is {mode}, "
        f"its folder {folder}"
    )


@pytest.mark.parametrize("lock", [".progress.json.lock", "tutor.lock"])
def test_a_peer_cannot_hold_the_learners_locks(host: Host, lock: str) -> None:
    path = host.state / lock
    assert path.is_file(), f"the learner's tutor left no {lock} to try ({path})"
    holder = subprocess.Popen(
        peer_python("hold", str(path)),
        cwd=host.shared,
        env=environment(host.peer),
        user=host.peer.pw_uid,
        group=host.peer.pw_gid,
        extra_groups=[],
        umask=UMASK,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        attempt = holder.stdout.readline().strip()
        done = check(host, host.home)  # while the peer holds it, if it could
    finally:
        holder.stdin.close()
        try:
            holder.wait(10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    problems = went_on(host, done)
    if attempt == "held":
        mode = stat.filemode(path.stat().st_mode)
        folder = stat.filemode(path.parent.stat().st_mode)
        problems.insert(
            0, f"the peer held the learner's {lock} (the file is {mode}, its folder {folder})"
        )
    assert not problems, "\n".join(problems)


def test_modules_planted_in_a_shared_folder_never_run(host: Host) -> None:
    """The learner starts `attn-tutor check` from a folder where the peer left modules."""
    planted = as_user(
        host.peer, peer_python("plant", str(host.shared), *PLANTED), cwd=host.shared, limit=30
    )
    assert planted.stdout.strip() == "planted", planted.stderr
    markers = [host.shared / f"ran-{name}" for name in PLANTED]
    # The control: imported from that folder, each planted module leaves its marker.
    control = as_user(
        host.learner,
        [sys.executable, "-c", "import " + ", ".join(PLANTED)],
        cwd=host.shared,
        limit=30,
        home=host.home,
    )
    assert control.code == 0, control.stderr
    assert all(marker.exists() for marker in markers), "the planted modules cannot run"
    for marker in markers:
        marker.unlink()

    done = check(host, host.shared)
    problems = went_on(host, done)
    ran = [marker.name.removeprefix("ran-") + ".py" for marker in markers if marker.exists()]
    if ran:
        problems.insert(0, f"the peer's planted modules ran as the learner: {', '.join(ran)}")
    assert not problems, "\n".join(problems)
