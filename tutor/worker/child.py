"""One test run, inside its own child process: the only place learner code ever runs.

The child puts itself in a new process group with resource limits, lays the pack out in
a private folder as its authors have it (the exercise's pristine tests and a snapshot of
the learner's file in a folder of its own, the other exercises beside it), imports the
learner's module under the names the tests use for it, runs pytest with the event plugin
from the exercise's folder, and reports a final verdict. It never returns: it ends with
``os._exit``.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import errno
import importlib.util
import os
import resource
import shutil
import signal
import sys
import time
import types
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NoReturn

from tutor.core.catalog import (
    MUTANTS_DIR,
    PRISTINE_SKIP,
    PROBE_FILE,
    PROBLEM_FILE,
    SOLUTION_FILE,
)
from tutor.core.files import NotPlainFile, read_plain_file
from tutor.core.protocol import (
    CollectionError,
    Event,
    Notice,
    RunFinished,
    RunRequest,
    Verdict,
    decode_request,
    encode,
)
from tutor.worker.differential import Replay, judged
from tutor.worker.guard import (
    Restore,
    guard_tools,
    is_original,
    keeper,
    limit_processes,
    mark_original,
    tampering_notice,
)
from tutor.worker.plugin import EventReporter, is_memory_error, learner_line, short_message

PACK_FOLDER = "pack"  # the pack's folder in a run, when its own name will not do
LEARNER = PROBLEM_FILE.removesuffix(".py")
REFERENCE = SOLUTION_FILE.removesuffix(".py")
EXIT_CHANNEL_LOST = 3
OUTPUT_FILE = "output.txt"
WRITE_LIMIT = 64 * 1024 * 1024  # any file the run writes, captured output included
PR_SET_PDEATHSIG = 1
EXAMPLE_SECONDS = 2.0  # how long shrinking may go on after the comparison, at most
# Plugins a run never needs. unraisableexception and threadexception force full garbage
# collections, which cost a quarter of a second with torch loaded.
UNUSED_PLUGINS = [
    option
    for name in (
        "unraisableexception",
        "threadexception",
        "junitxml",
        "pastebin",
        "doctest",
        "legacypath",
        "setuponly",
        "setupplan",
        "stepwise",
        "faulthandler",
    )
    for option in ("-p", f"no:{name}")
]


class Channel:
    """Writes events to the worker; if the worker is gone there is nobody to tell."""

    def __init__(self, fd: int, run_id: int) -> None:
        self.fd = fd
        self.run_id = run_id

    def __call__(self, event: Event) -> None:
        if not is_original():
            return  # a copy the learner's code forked: it cannot speak for the run
        data = (encode(event) + "\n").encode()
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:
            os._exit(EXIT_CHANNEL_LOST)


def confine(request: RunRequest, workdir: Path) -> None:
    """Own process group, limits, no stdin, output to a capped file, die with the worker."""
    with contextlib.suppress(OSError):
        os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_FSIZE, (WRITE_LIMIT, WRITE_LIMIT))
    if request.memory_mb > 0:
        limit = address_space() + request.memory_mb * 1024 * 1024
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A write past the limit should fail with an error the test reports, not kill the run.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    limit_processes()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    out = os.open(workdir / OUTPUT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)


def address_space() -> int:
    """This process's current virtual size: the memory limit is counted on top of it."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 8 * 1024**3


INI_FILE = "pytest.ini"
NOT_LAID_OUT = frozenset({MUTANTS_DIR, "__pycache__"})
# The exercise's folder in a run, when its tests import the learner's file relatively and
# its own name (``02-relative``) cannot name a package.
PACKAGE = "attn_exercise"
RELATIVE = "."  # stands for any relative import of problem or solution


@dataclass(frozen=True)
class Layout:
    """Where a run lays an exercise out, and which of its modules the tests import."""

    exercise_dir: Path  # the pristine folder
    folder: Path  # its copy in the run: the working folder, first on sys.path
    imports: frozenset[str]  # of problem, solution and RELATIVE

    @property
    def probe(self) -> Path:
        return self.folder / PROBE_FILE


def plan(exercise_dir: Path, workdir: Path) -> Layout:
    """The layout of a run: ``workdir/<pack>/<exercise>``."""
    pack = exercise_dir.parent.name
    if not pack or pack.startswith(".") or pack in {OUTPUT_FILE, INI_FILE}:
        pack = PACK_FOLDER
    imports = imported_modules(exercise_dir)
    name = exercise_dir.name
    if RELATIVE in imports and not name.isidentifier():
        name = PACKAGE  # pytest makes a package only of a folder named like a module
    return Layout(exercise_dir, workdir / pack / name, imports)


def lay_out(layout: Layout, problem: bytes) -> Path:
    """Lay the pack out as its authors have it; the exercise's folder in the run.

    The exercise's folder is real and holds copies of its pristine files, the pristine
    solution.py, and the learner's snapshot as problem.py. Every other entry of the pack
    is a link to the pristine one, so that tests reaching a sibling by a relative path
    (``../08-y/solution.py``) find it; links cost no copying.
    """
    exercise_dir, folder = layout.exercise_dir, layout.folder
    folder.parent.mkdir()
    taken = {exercise_dir.name, folder.name, *NOT_LAID_OUT}
    for entry in exercise_dir.parent.iterdir():
        if entry.name not in taken:
            (folder.parent / entry.name).symlink_to(entry)
    folder.mkdir()
    if folder.name != exercise_dir.name:
        (folder.parent / exercise_dir.name).symlink_to(folder.name)  # its own name still works
    for source in exercise_dir.iterdir():
        if source.name in PRISTINE_SKIP or source.name in NOT_LAID_OUT:
            continue
        if source.is_dir():
            shutil.copytree(source, folder / source.name)
        else:
            shutil.copy2(source, folder / source.name)
    reference = exercise_dir / SOLUTION_FILE
    if reference.is_file():
        shutil.copy2(reference, folder / SOLUTION_FILE)
    (folder / PROBLEM_FILE).write_bytes(problem)
    if RELATIVE in layout.imports and not (folder / "__init__.py").exists():
        (folder / "__init__.py").touch()  # ``from .problem import X`` needs a package
    (folder.parent.parent / INI_FILE).write_text("[pytest]\n")
    return folder


def conftest_limit(folder: Path) -> Path:
    """The highest folder whose conftest.py the tests get: the pack's, if it has one."""
    return folder.parent if (folder.parent / "conftest.py").exists() else folder


def imported_modules(folder: Path) -> frozenset[str]:
    """Which of problem and solution the folder's test files import, read with ``ast``
    (never imported); ``RELATIVE`` when one is imported relatively."""
    found: set[str] = set()
    for path in sorted(folder.glob("test_*.py")) + sorted(folder.glob("*_test.py")):
        found |= file_imports(path)
    return frozenset(found)


# What each test file imports, by path and stat: the worker fills it before it forks a run
# (``remember_imports``), so a run reads it instead of parsing the tests again.
PARSED: dict[tuple[str, int, int, int], frozenset[str]] = {}
PARSED_LIMIT = 4096


def file_imports(path: Path) -> frozenset[str]:
    """What one test file imports of problem and solution (and ``RELATIVE``)."""
    try:
        stat = path.stat()
    except OSError:
        return frozenset()
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    known = PARSED.get(key)
    if known is not None:
        return known
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return frozenset()  # pytest will say what is wrong with it
    wanted = {LEARNER, REFERENCE}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = [node.module] if node.module else [alias.name for alias in node.names]
            top = {name.split(".")[0] for name in names}
            found.update(top)
            if node.level and top & wanted:
                found.add(RELATIVE)
    result = frozenset(found & (wanted | {RELATIVE}))
    if len(PARSED) >= PARSED_LIMIT:
        PARSED.clear()
    PARSED[key] = result
    return result


def remember_imports(exercise_dir: Path) -> None:
    """Parse the exercise's tests in the worker, once, for every run it forks."""
    with contextlib.suppress(OSError):
        imported_modules(exercise_dir.absolute())


@dataclass(frozen=True)
class Names:
    """The module names under which the tests get the learner's file."""

    during_import: tuple[str, ...]  # while it runs: ``solution`` is still the pack's
    after_import: tuple[str, ...]  # added for the tests


def learner_names(layout: Layout) -> Names:
    """``problem`` is always the learner's file; ``solution`` is too only for tests that
    import ``solution`` and never ``problem`` (packs that tell the learner to edit against
    it). Otherwise ``solution`` stays the pack's own, found beside the tests."""
    package = package_name(layout.folder)
    prefixes = ("", f"{package}.") if package else ("",)
    mine = tuple(f"{prefix}{LEARNER}" for prefix in prefixes)
    if REFERENCE in layout.imports and LEARNER not in layout.imports:
        return Names(mine, tuple(f"{prefix}{REFERENCE}" for prefix in prefixes))
    return Names(mine, ())


def package_name(folder: Path) -> str:
    """The dotted name pytest gives ``folder`` as a package ('' when it is none): the
    folders upwards that hold ``__init__.py`` and are named like modules."""
    parts: list[str] = []
    while (folder / "__init__.py").is_file() and folder.name.isidentifier():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)


def import_learner(path: Path, names: Names) -> types.ModuleType:
    """Import the learner's file once and register it under the names the tests use."""
    spec = importlib.util.spec_from_file_location(LEARNER, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path.name}")
    module = importlib.util.module_from_spec(spec)
    for name in names.during_import:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    for name in names.after_import:
        sys.modules[name] = module
    return module


def import_failure(error: BaseException, learner: Path, problem_name: str) -> RunFinished:
    """The verdict for a learner file that fails while being imported."""
    files = frozenset({str(learner)})
    if isinstance(error, SystemExit):
        return RunFinished(
            run_id=0,
            verdict=Verdict.EXITED_EARLY,
            message=f"{problem_name} called sys.exit({error.code!r}) while being imported; "
            "a module should define things, not end the program",
        )
    if is_memory_error(error):
        return RunFinished(
            run_id=0,
            verdict=Verdict.OUT_OF_MEMORY,
            message=f"{problem_name} ran out of memory while being imported "
            f"({short_message(error)}); allocate no large tensor at import",
        )
    line = learner_line(error, files) or nul_line(learner)
    where = f" (line {line})" if line else ""
    if nul_line(learner) is not None:
        return RunFinished(
            run_id=0,
            verdict=Verdict.ERROR,
            message=f"{problem_name} holds a NUL byte{where}, which Python cannot read. "
            "Delete it in your editor (in vim: /\\%x00 finds it, then x).",
        )
    if isinstance(error, SyntaxError) and "codec can't decode" in str(error):
        return RunFinished(
            run_id=0,
            verdict=Verdict.ERROR,
            message=f"{problem_name} is not UTF-8 text{where}. Save it as UTF-8 in your editor "
            "(in vim: :set fileencoding=utf-8, then :w).",
        )
    return RunFinished(
        run_id=0,
        verdict=Verdict.ERROR,
        message=f"{problem_name} could not be imported{where}: {short_message(error)}",
    )


def nul_line(path: Path) -> int | None:
    """The line of the first NUL byte in the learner's file, which Python refuses to read."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    at = data.find(b"\0")
    return data.count(b"\n", 0, at) + 1 if at >= 0 else None


def process_failure(error: BaseException) -> RunFinished:
    """The verdict when the test process itself fails, outside any test."""
    if isinstance(error, OSError) and error.errno == errno.EMFILE:
        # Learner code that opens files without closing them, or lowers RLIMIT_NOFILE, makes
        # pytest fail on some file of its own: that file is not what the learner should see.
        return RunFinished(
            run_id=0,
            verdict=Verdict.ERROR,
            message="the tests ran out of file descriptors: your code opened files and did not "
            "close them, or lowered the limit (resource.setrlimit with RLIMIT_NOFILE). "
            "Open files with `with open(...)`, and leave the limits alone.",
        )
    return RunFinished(
        run_id=0,
        verdict=Verdict.CRASHED,
        message=f"the test process failed: {short_message(error)}",
    )


def verdict_for(reporter: EventReporter, exit_code: int) -> RunFinished:
    tally = reporter.tally
    counts = RunFinished(run_id=0, passed=tally.passed, failed=tally.failed, total=tally.collected)
    if tally.interrupted_by:
        return replace(
            counts,
            verdict=Verdict.EXITED_EARLY,
            message=f"your code raised {tally.interrupted_by}, which stops the whole test run. "
            "Let errors be ordinary exceptions.",
        )
    if tally.collection_errors:
        return replace(
            counts,
            verdict=Verdict.ERROR,
            message="a test file could not be loaded: see the collection error",
        )
    if exit_code == pytest_no_tests() or tally.collected == 0:
        return RunFinished(run_id=0, verdict=Verdict.NO_TESTS, message="no tests were found")
    unjudged = tally.collected - len(tally.reported)
    if unjudged > 0:
        # A test that never reported cannot count as passed: something stopped the run or
        # swallowed a report.
        return replace(
            counts,
            verdict=Verdict.FAILED,
            message=f"{unjudged} of {tally.collected} tests never reported a result: your code "
            "stopped the tests before they were judged",
        )
    if tally.out_of_memory:
        return replace(
            counts,
            verdict=Verdict.OUT_OF_MEMORY,
            message="a test ran out of memory (a (T, T) matrix per element, "
            "or an allocation in a loop?)",
        )
    verdict = Verdict.PASSED if tally.failed == 0 and tally.passed > 0 else Verdict.FAILED
    return replace(counts, verdict=verdict)


def pytest_no_tests() -> int:
    import pytest

    return int(pytest.ExitCode.NO_TESTS_COLLECTED)


@dataclass
class Ran:
    """What a run found: its verdict, the learner's module if it imported, and the tests'
    calls to replay on the reference, when there is one to compare with."""

    finished: RunFinished
    learner: types.ModuleType | None = None
    replay: Replay | None = None


def run_child(request: RunRequest, workdir: Path, event_fd: int) -> NoReturn:
    """Run one request to the end and exit; the worker reads the verdict from ``event_fd``.

    The verdict goes out before the attention probe runs, so a probe that hangs or crashes
    costs only the picture, never the test results.
    """
    mark_original()
    began = time.monotonic()
    emit = Channel(event_fd, request.run_id)
    request = anchored(request)
    try:
        confine(request, workdir)
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        sys.dont_write_bytecode = True
        sys.stdin = open(os.devnull)  # noqa: SIM115 - stays open for the child's life
        restore = guard_tools()
        layout = plan(Path(request.exercise_dir), workdir)
        ran = run(request, layout, emit, restore, began)
        emit(ran.finished)
    except BaseException as error:  # noqa: BLE001 - whatever happens, the worker must hear
        emit(process_failure(error))
    else:
        # The verdict is out; whatever the learner's code does now costs only the picture
        # and the worked example.
        with contextlib.suppress(BaseException):
            restore(False)
            picture(request, layout, ran, emit)
            restore(False)
            example(ran, emit, comparing_until(request, began))
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(0)


def anchored(request: RunRequest) -> RunRequest:
    """``request`` with every path made absolute: the run changes into its own folder before
    the probe reads the solution and the mutants, and a pack given as ``--exercises
    exercises`` names them relative to where the tutor started."""
    mutants = tuple(replace(m, path=str(Path(m.path).absolute())) for m in request.mutants)
    return replace(
        request,
        exercise_dir=str(Path(request.exercise_dir).absolute()),
        problem=str(Path(request.problem).absolute()),
        mutants=mutants,
    )


def comparing_until(request: RunRequest, began: float) -> float:
    """When replaying on the reference must stop: ``COMPARE_SECONDS`` at most, and well
    inside the run's timeout, so the verdict still goes out."""
    from tutor.worker.differential import COMPARE_SECONDS

    left = request.timeout - (time.monotonic() - began)
    return time.monotonic() + max(0.0, min(COMPARE_SECONDS, left * 0.5))


def example(ran: Ran, emit: Channel, until: float) -> None:
    """Send the smallest input found on which the learner's code and the reference differ,
    worked through stage by stage, when they differ on some call of the tests."""
    if ran.replay is None or ran.learner is None:
        return
    from tutor.worker.example import smallest_example

    comparison = ran.replay.compared(until)
    if not comparison.differences:
        return
    differing = [difference.call for difference in comparison.differences]
    found = smallest_example(ran.replay.pair, differing, until + EXAMPLE_SECONDS)
    if found is not None:
        emit(found)


def picture(request: RunRequest, layout: Layout, ran: Ran, emit: Channel) -> None:
    """Send the attention picture: the probe's if the exercise has one, else the weights the
    tests' own calls computed on both sides."""
    finished = ran.finished
    if finished.verdict is Verdict.MISSING:
        return
    probe = layout.probe
    if probe.is_file():
        from tutor.worker.probe import run_probe

        solution = Path(request.exercise_dir) / SOLUTION_FILE
        reference = solution if solution.is_file() else None
        emit(run_probe(probe, ran.learner, reference, request.mutants))
    elif ran.replay is not None:
        from tutor.worker.weights import replayed_picture

        shown = replayed_picture(ran.replay, request.tokens)
        if shown is not None:
            emit(shown)


def run(request: RunRequest, layout: Layout, emit: Channel, restore: Restore, began: float) -> Ran:
    """The tests' verdict, compared with the reference when every test passes."""
    import pytest

    problem_name = Path(request.problem).name

    def replaced(names: list[str]) -> None:
        emit(Notice(run_id=0, text=tampering_notice(names, problem_name)))

    try:
        snapshot = read_plain_file(Path(request.problem))
    except IsADirectoryError:
        return missing(f"{request.problem} is a folder; it should be your {problem_name} file")
    except NotPlainFile:
        return missing(
            f"{request.problem} is not a plain file (a pipe, socket or device); "
            f"save your code there as an ordinary file"
        )
    except FileNotFoundError:
        return missing(f"{request.problem} is missing; save it again (or `attn-tutor reset`)")
    except OSError as error:
        reason = errno.errorcode.get(error.errno or 0, "error")
        return missing(f"{request.problem} cannot be read ({error.strerror or reason})")
    if not snapshot.strip():
        return Ran(
            RunFinished(
                run_id=0,
                verdict=Verdict.ERROR,
                message=f"{problem_name} is empty. Write your code in it, or press x to start "
                "again from the skeleton.",
            )
        )
    folder = lay_out(layout, snapshot)
    workdir = folder.parent.parent
    learner = folder / PROBLEM_FILE
    # Taken before the learner's code runs, and only called after: what it may replace.
    guard = keeper(restore, replaced)
    check, judge = guard.check, verdict_for
    # As its authors run it: from the exercise's folder, which is first on sys.path.
    os.chdir(folder)
    sys.path.insert(0, str(folder))

    import torch

    torch.set_num_threads(1)
    try:
        module = import_learner(learner, learner_names(layout))
    except BaseException as error:  # noqa: BLE001 - learner code may raise anything at import
        check()  # it may have replaced what judges the failure before raising
        line = learner_line(error, frozenset({str(learner)})) or nul_line(learner)
        finished = import_failure(error, learner, problem_name)
        if finished.verdict is Verdict.ERROR:
            emit(
                CollectionError(
                    run_id=0, file=problem_name, line=line, message=short_message(error)
                )
            )
        return Ran(finished)
    check()
    replay = replay_for(request, module, emit)
    reporter = EventReporter(emit, frozenset({str(learner)}))
    args = [
        str(folder),
        f"--rootdir={folder}",
        f"-c={workdir / INI_FILE}",
        # As ``cd NN && pytest`` finds conftest files: the exercise's own, and the pack's
        # when it has one; pytest then reads no other folder of the pack.
        f"--confcutdir={conftest_limit(folder)}",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        *UNUSED_PLUGINS,
        # Learner prints go straight to the run's output file, shown as the output tail.
        "--capture=no",
    ]
    exit_code = pytest.main(args, plugins=[reporter, guard.plugin])
    if replay is not None:
        replay.recorder.active = False  # the probe's and the replay's calls are not the tests'
    check()  # the verdict is made with the tutor's own tools, whatever the last test replaced
    finished = judge(reporter, int(exit_code))
    if replay is not None and finished.verdict is Verdict.PASSED:
        comparison = replay.compared(comparing_until(request, began))
        check()  # the replay ran learner code too
        if comparison.notice():
            emit(Notice(run_id=0, text=comparison.notice()))
        finished = judged(finished, comparison)
    return Ran(finished, module, replay)


def replay_for(request: RunRequest, module: types.ModuleType, emit: Channel) -> Replay | None:
    """Start noting the tests' calls, when there is a reference to replay them on."""
    solution = Path(request.exercise_dir) / SOLUTION_FILE
    if not request.differential or not solution.is_file():
        return None
    from tutor.worker.differential import start
    from tutor.worker.probe import load

    try:
        reference = load(solution, "attn_reference")
    except Exception as error:  # noqa: BLE001 - the pack's reference is broken: say so, go on
        emit(
            Notice(
                run_id=0,
                text=f"the reference solution could not be imported ({short_message(error)}), "
                "so your code is judged by the tests alone",
            )
        )
        return None
    return start(module, reference)


def missing(message: str) -> Ran:
    return Ran(RunFinished(run_id=0, verdict=Verdict.MISSING, message=message))


def main() -> None:
    """Cold entry point, where fork is not available: ``python -m tutor.worker.child``."""
    request_json, workdir, fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from tutor.worker.warm import warm_up

    request = decode_request(request_json)
    if not isinstance(request, RunRequest):
        raise SystemExit(f"not a run request: {request_json}")
    # Before the memory limit: it counts on top of what torch itself maps.
    warm_up()
    run_child(request, Path(workdir), fd)


if __name__ == "__main__":
    # Run as the imported module, whose names the guard keeps, not as a copy named __main__.
    from tutor.worker import child

    child.main()
