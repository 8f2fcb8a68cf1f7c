"""The fault suite, part one: hostile learner code, through the real app and warm worker.

Every case is saved as the learner's ``problem.py`` of exercise 02 and must give its
honest verdict within the time limit plus one second, keep keys answering, leave no
process behind, leave the learner's file as they wrote it, store the attempt exactly
once, and leave the next save (the right answer) working normally.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent, indent

import pytest

from tests.conftest import BASICS
from tests.live_app import KEY_LIMIT, LiveApp, processes_with

pytestmark = [pytest.mark.fault, pytest.mark.slow]

LIMIT = 3.0  # the suite's time limit per run
SOLUTION = (BASICS / "solution.py").read_text()
WRONG = (BASICS / "mutants" / "no_softmax.py").read_text()  # fails the tests on its values
MARKER = f"attn-fault-{os.getpid()}"  # carried by every process a case starts
IMPORTS = "import ctypes, os, subprocess, sys, threading, time\nfrom pathlib import Path\n"


def at_import(code: str, base: str = SOLUTION) -> str:
    """``base`` with ``code`` run when the module is imported."""
    return f"{base}\n{IMPORTS}{dedent(code)}\n"


def in_forward(code: str, base: str = SOLUTION) -> str:
    """``base`` whose ``forward`` runs ``code`` first."""
    body = indent(dedent(code), " " * 8)
    return (
        f"{base}\n{IMPORTS}\n_Working = SimpleAttention\n\n\n"
        f"class SimpleAttention(_Working):\n    def forward(self, x):\n{body}\n"
        "        return super().forward(x)\n"
    )


@dataclass(frozen=True)
class Case:
    source: str | bytes
    verdict: str
    says: str = ""  # words the learner must be shown


SPAWN_STUBBORN = f"""
subprocess.Popen(
    [sys.executable, "-c",
     "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)",
     "{MARKER}"],
    start_new_session=True,
)
"""

CASES = {
    "endless loop in forward": Case(in_forward("while True:\n    pass"), "timed out", "3 s"),
    "endless loop at import": Case(at_import("while True:\n    pass"), "timed out", "3 s"),
    "sleep(1e9) in forward": Case(in_forward("time.sleep(1e9)"), "timed out", "3 s"),
    "deep recursion": Case(in_forward("return self.forward(x)"), "failed", "RecursionError"),
    "segfault through ctypes": Case(in_forward("ctypes.string_at(0)"), "crashed", "SIGSEGV"),
    "os._exit(0) at import": Case(at_import("os._exit(0)"), "exited early", "exit code 0"),
    "os._exit(0) in forward": Case(in_forward("os._exit(0)"), "exited early", "exit code 0"),
    "sys.exit(0) at import": Case(at_import("sys.exit(0)"), "exited early", "sys.exit(0)"),
    "sys.exit(0) in forward": Case(in_forward("sys.exit(0)"), "failed", "sys.exit(0)"),
    "raise KeyboardInterrupt": Case(
        in_forward("raise KeyboardInterrupt"), "exited early", "KeyboardInterrupt"
    ),
    "raise SystemExit": Case(in_forward("raise SystemExit"), "failed", "sys.exit(None)"),
    "raise BaseException": Case(in_forward("raise BaseException('stop')"), "failed", "stop"),
    "a 50 GB tensor": Case(
        in_forward("torch.empty(50 * 1024**3 // 4)", base=SOLUTION), "out of memory", "memory"
    ),
    "allocating in a loop until stopped": Case(
        in_forward(
            "while True:\n    HOARD.append(torch.empty(2**26))", base=f"{SOLUTION}\nHOARD = []"
        ),
        "out of memory",
        "memory",
    ),
    "10 MB to stdout": Case(at_import("sys.stdout.write('o' * 10_000_000)"), "passed"),
    "10 MB to stderr": Case(at_import("sys.stderr.write('e' * 10_000_000)"), "passed"),
    "input()": Case(in_forward("input('? ')"), "failed", "EOFError"),
    "threads that never end": Case(
        # Non-daemon threads that wait and sleep for ever. (One that spins on the CPU makes
        # every torch call wait for the interpreter lock: slow, and on a loaded machine a
        # timeout, which is then the honest verdict.)
        at_import(
            "threading.Thread(target=threading.Event().wait).start()\n"
            "threading.Thread(target=lambda: [time.sleep(0.05) for _ in iter(int, 1)]).start()"
        ),
        "passed",
    ),
    "a child process that ignores SIGTERM": Case(at_import(SPAWN_STUBBORN), "passed"),
    "os.fork() in a loop": Case(at_import("while True:\n    os.fork()"), "error", "processes"),
    "changing the working directory": Case(at_import("os.chdir('/')"), "passed"),
    "redefining torch.allclose": Case(
        at_import("torch.allclose = lambda *a, **k: True", base=WRONG),
        "failed",
        "replaced torch.allclose",
    ),
    "redefining torch.testing": Case(
        at_import(
            "import torch.testing\n"
            "torch.testing.assert_close = lambda *a, **k: None\n"
            "torch.testing = None",
            base=WRONG,
        ),
        "failed",
        "replaced torch.testing",
    ),
    "redefining the tests' helpers": Case(
        at_import(
            "import tutor.kit as kit\nkit.assert_close = lambda *a, **k: None",
            base=WRONG,
        ),
        "failed",
        "tutor.kit.assert_close",
    ),
    "replacing pytest's Function.runtest with a no-op": Case(
        at_import(
            "import _pytest.python\n_pytest.python.Function.runtest = lambda self: None",
            base=WRONG,
        ),
        "failed",
        "_pytest.python.Function.runtest",
    ),
    "replacing the tutor's verdict_for": Case(
        at_import(
            "import tutor.worker.child as child\n"
            "from tutor.core.protocol import RunFinished, Verdict\n"
            "child.verdict_for = lambda *a: RunFinished(run_id=0, verdict=Verdict.PASSED, "
            "passed=1, total=1)",
            base=WRONG,
        ),
        "failed",
        "tutor.worker.child.verdict_for",
    ),
    "making pytest report every test as passed": Case(
        in_forward(
            "import _pytest.reports as reports\n"
            "reports.TestReport.failed = False\n"
            "reports.TestReport.passed = True",
            base=WRONG,
        ),
        "failed",
        "_pytest.reports.TestReport",
    ),
    "writing files next to it": Case(
        at_import(
            "Path(__file__).with_name('notes.txt').write_text('scratch')\n"
            "Path('cwd-notes.txt').write_text('scratch')\n"
            "Path(__file__).write_text('')\n"
        ),
        "passed",
    ),
    "reading files next to it": Case(
        at_import("assert 'SimpleAttention' in Path(__file__).read_text()"), "passed"
    ),
    "a file that is not UTF-8": Case(
        SOLUTION.encode() + b"\nDRINK = 'caf\xe9 au lait'\n", "error", "not UTF-8 text (line"
    ),
    # Python itself accepts bytes that are not UTF-8 in a comment: so does the tutor.
    "a comment that is not UTF-8": Case(SOLUTION.encode() + b"\n# caf\xe9\n", "passed"),
    "a NUL byte": Case(
        SOLUTION.encode() + b"\nDRINK = 'tea'\0\n",
        "error",
        f"NUL byte (line {SOLUTION.count(chr(10)) + 2})",
    ),
    "lowering the open-file limit": Case(
        at_import("import resource\nresource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))"),
        "error",
        "ran out of file descriptors",
    ),
    "an empty file": Case(b"", "error", "empty"),
    "a 5 MB file": Case(SOLUTION + ("# " + "x" * 98 + "\n") * 50_000, "passed"),
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    app = LiveApp(tmp_path_factory.mktemp("faults") / "ws", timeout=LIMIT)
    yield app
    app.close()


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_code_gets_an_honest_verdict(live: LiveApp, name: str) -> None:
    case = CASES[name]
    outcome = live.save(case.source, limit=LIMIT + 30)

    assert outcome.verdict == case.verdict, outcome.text
    assert case.says in outcome.text
    assert outcome.seconds < LIMIT + 1.0
    assert outcome.key_seconds < KEY_LIMIT
    if case.verdict == "timed out":
        assert outcome.key_during_run  # the key was answered while the run was still going
    assert outcome.leftovers == []
    assert processes_with(MARKER) == []
    expected = case.source.encode() if isinstance(case.source, str) else case.source
    assert live.problem.read_bytes() == expected  # the learner's file is as they saved it
    assert sorted(p.name for p in live.problem.parent.iterdir()) == ["problem.py"]

    # The next save, the right answer, works as if nothing had happened.
    after = live.save(SOLUTION + f"# save {live.saves}\n", limit=LIMIT + 30)
    assert after.verdict == "passed", after.text
    assert after.report.notices == []
    assert after.leftovers == []


def test_the_suite_covers_every_case_of_the_promise() -> None:
    # RELIABILITY.md lists these cases; the list is the contract.
    listed = Path(__file__).parent.parent / "docs" / "RELIABILITY.md"
    text = listed.read_text(encoding="utf-8")
    missing = [name for name in CASES if name not in text]
    assert missing == []
