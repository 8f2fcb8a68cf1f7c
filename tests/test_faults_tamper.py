"""The fault suite: learner code that changes the tests, or the tutor, that judge it.

Learner code runs as the learner, so it can write to a pack, and to the tutor itself when the
tutor is the learner's own clone. A changed test would make every later wrong attempt pass.
The worker checks each run's files against a fingerprint that outlives it (the manifest
shipped with the tutor, a record in the workspace for any other pack): a changed, added or
removed file stops the run with its own verdict, naming the file and how to restore it.
Within a run, what runs and judges the tests (pytest's classes, the tutor's child, reporter
and events) is put back whenever the learner's code replaced it, so no pass can be forged
by replacing a name.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import BASICS, WILD_PACK, LiveRunner
from tutor.core import fingerprint
from tutor.core.catalog import builtin_pack
from tutor.core.fingerprint import REGENERATE, Integrity, Manifest, record_path, stale_manifest
from tutor.core.protocol import Verdict
from tutor.core.workspace import STATE_DIR
from tutor.runner import exercise_at

pytestmark = pytest.mark.fault

WRONG = (BASICS / "mutants" / "no_softmax.py").read_text()
SKELETON = (BASICS / "problem.py").read_text()
TESTS = "test_attention_basics.py"
ANYTHING_PASSES = "def test_anything():\n    pass\n"


def rewriting(path: Path, base: str = WRONG) -> str:
    """``base`` that, when imported, replaces the file at ``path`` with a test that passes."""
    write = f"Path({str(path)!r}).write_text({ANYTHING_PASSES!r})"
    return f"{base}\nfrom pathlib import Path\n{write}\n"


def copied_basics(root: Path) -> Path:
    """Exercise 02 in a pack of its own, to change as a case needs."""
    folder = root / "pack" / BASICS.name
    shutil.copytree(BASICS, folder)
    return folder


def learner_file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "ws" / "problem.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


@pytest.mark.slow
def test_a_test_file_rewritten_by_learner_code_stops_the_next_run(
    tmp_path: Path, live_runner: LiveRunner
) -> None:
    exercise = exercise_at(copied_basics(tmp_path))  # read once, as the tutor does
    tests = exercise.path / TESTS
    original = tests.read_bytes()

    first = live_runner.run(exercise, learner_file(tmp_path, rewriting(tests)))
    assert first.finished is not None
    assert first.finished.verdict is Verdict.FAILED  # its own tests were copied before

    skeleton = live_runner.run(exercise, learner_file(tmp_path, SKELETON))
    finished = skeleton.finished
    assert finished is not None
    assert finished.verdict is Verdict.TAMPERED, skeleton.headline()
    assert not finished.verdict.counts_as_attempt
    assert f"{tests} has changed" in finished.message
    assert "restore it" in finished.message

    tests.write_bytes(original)  # put back: the tests run again
    again = live_runner.run(exercise, learner_file(tmp_path, SKELETON))
    assert again.finished is not None
    assert again.finished.verdict is Verdict.FAILED, again.headline()


def in_forward(code: str) -> str:
    """The wrong attempt, whose ``forward`` runs ``code`` first: in the middle of a test."""
    body = "".join(f"        {line}\n" for line in code.splitlines())
    return (
        f"{WRONG}\n_Wrong = SimpleAttention\n\n\nclass SimpleAttention(_Wrong):\n"
        f"    def forward(self, x):\n{body}        return super().forward(x)\n"
    )


PASS_EVERYTHING = "RunFinished(run_id=0, verdict=Verdict.PASSED, passed=1, total=1)"
IMPORTS = "import os\nfrom tutor.core.protocol import RunFinished, Verdict, encode\n"
# Ways to forge a pass by replacing what runs and judges the tests, each from inside a test,
# and the name the learner is told was put back.
FORGERIES = {
    "the child's channel to the worker": (
        f"{IMPORTS}import tutor.worker.child as child\n"
        "def say_passed(self, event):\n"
        f"    event = {PASS_EVERYTHING} if isinstance(event, RunFinished) else event\n"
        "    os.write(self.fd, (encode(event) + '\\n').encode())\n"
        "child.Channel.__call__ = say_passed",
        "tutor.worker.child.Channel.__call__",
    ),
    "the events' encoding": (
        "import tutor.core.protocol as protocol\n"
        "real = protocol.to_line\n"
        "protocol.to_line = lambda event: real(event).replace('\"failed\"', '\"passed\"')",
        "tutor.core.protocol.to_line",
    ),
    "the reporter's tally": (
        "import tutor.worker.plugin as plugin\nplugin.EventReporter.report = lambda *a: None",
        "tutor.worker.plugin.EventReporter.report",
    ),
    "the child's replace": (
        f"{IMPORTS}import tutor.worker.child as child\n"
        f"child.replace = lambda *a, **k: {PASS_EVERYTHING}",
        "tutor.worker.child.replace",
    ),
    "pytest's report hidden behind a class attribute": (
        "import _pytest.reports as reports\nreports.TestReport.failed = False",
        "_pytest.reports.TestReport.failed",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_replaced_judge_cannot_forge_a_pass(
    name: str, tmp_path: Path, live_runner: LiveRunner
) -> None:
    code, told = FORGERIES[name]
    report = live_runner.run(BASICS, learner_file(tmp_path, in_forward(code)))
    assert report.finished is not None
    assert report.finished.verdict is Verdict.FAILED, report.headline()
    assert any(told in notice for notice in report.notices), report.notices


@pytest.mark.slow
def test_a_session_stopped_early_is_not_a_pass(tmp_path: Path, live_runner: LiveRunner) -> None:
    stop = "import gc, _pytest.main\nfor o in gc.get_objects():\n"
    stop += "    if isinstance(o, _pytest.main.Session):\n        o.shouldstop = 'enough'"
    source = f"{(BASICS / 'solution.py').read_text()}\n_calls = []\n" + in_forward(
        f"_calls.append(1)\nif len(_calls) > 3:\n{textwrap.indent(stop, '    ')}"
    ).removeprefix(WRONG)
    report = live_runner.run(BASICS, learner_file(tmp_path, source))
    assert report.finished is not None
    assert report.finished.verdict is Verdict.FAILED, report.headline()
    assert "never reported a result" in report.finished.message


def attn(*args: str) -> subprocess.CompletedProcess[str]:
    """``attn-tutor ARGS`` in a process of its own, as a learner runs it."""
    return subprocess.run(
        [sys.executable, "-m", "tutor", *args], capture_output=True, text=True, timeout=180
    )


@pytest.mark.slow
def test_a_pack_changed_in_one_check_stops_the_next_check_until_trusted(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(WILD_PACK / "01-plain-import", pack / "01-plain-import")
    tests = pack / "01-plain-import" / "test_plain.py"
    workspace = tmp_path / "ws"
    options = ("--exercises", str(pack), "--workspace", str(workspace))
    learner = workspace / "01-plain-import" / "problem.py"

    attn("list", *options)  # the workspace, with the skeleton
    skeleton = learner.read_text()
    learner.write_text(rewriting(tests, base=skeleton))
    first = attn("check", "1", *options)
    assert first.returncode == 1, first.stdout + first.stderr
    assert tests.read_text() == ANYTHING_PASSES

    learner.write_text(skeleton)
    second = attn("check", "1", *options)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "FILES CHANGED" in second.stdout
    assert str(tests) in second.stdout
    assert "attn-tutor trust --exercises" in second.stdout
    record = record_path(workspace / STATE_DIR, pack)
    assert stat.S_IMODE(record.stat().st_mode) == 0o600

    # The pack's author meant it: accepted, the changed test runs.
    trusted = attn("trust", *options)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "01-plain-import/test_plain.py has changed" in trusted.stdout
    third = attn("check", "1", *options)
    assert third.returncode == 0, third.stdout + third.stderr


def test_trust_refuses_the_built_in_pack(tmp_path: Path) -> None:
    result = attn("trust", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2
    assert "built-in exercises" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ws").exists()  # refused before anything was made


def tutor_copy(tmp_path: Path) -> Path:
    """The tutor's package as the manifest describes it, in a folder of its own."""
    package = tmp_path / "site" / "tutor"
    source = fingerprint.PACKAGE
    for name in fingerprint.tutor_files(source):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, package / name)
    shutil.copy2(source / fingerprint.MANIFEST_FILE, package / fingerprint.MANIFEST_FILE)
    return package


def test_a_kit_file_with_code_appended_is_caught(tmp_path: Path) -> None:
    package = tutor_copy(tmp_path)
    integrity = Integrity.open(package=package)
    assert integrity.check(BASICS) == ""

    kit = package / "kit" / "assertions.py"
    with kit.open("a") as handle:
        handle.write("\nassert_close = lambda *a, **k: None\n")
    message = integrity.check(BASICS)
    assert f"{kit} has changed since the tutor was installed" in message
    assert "reinstall the tutor" in message

    # The next worker, in another process, reads the same manifest and stops as well.
    assert f"{kit} has changed" in Integrity.open(package=package).check(BASICS)


def test_a_module_added_beside_the_tutors_own_is_caught(tmp_path: Path) -> None:
    package = tutor_copy(tmp_path)
    integrity = Integrity.open(package=package)
    (package / "worker" / "sitecustomize.py").write_text("import os\n")
    assert "sitecustomize.py has been added" in integrity.check(BASICS)


def test_a_tutor_file_in_a_source_checkout_says_git_checkout(tmp_path: Path) -> None:
    package = tutor_copy(tmp_path)
    (package.parent / ".git").mkdir()
    (package.parent / "pyproject.toml").write_text("[project]\nname = 'attn-tutor'\n")
    (package / "worker" / "child.py").write_text("")
    message = Integrity.open(package=package).check(BASICS)
    assert "`git checkout -- tutor/worker/child.py`" in message
    assert REGENERATE in message


def test_a_damaged_manifest_stops_every_run(tmp_path: Path) -> None:
    package = tutor_copy(tmp_path)
    (package / fingerprint.MANIFEST_FILE).write_text("{")
    assert "manifest" in Integrity.open(package=package).check(BASICS)


def test_a_removed_test_of_a_recorded_pack_is_caught_by_the_next_worker(tmp_path: Path) -> None:
    exercise = copied_basics(tmp_path)
    pack = exercise.parent
    record = tmp_path / "ws" / STATE_DIR / "fingerprints" / "pack.json"
    assert Integrity.open(pack, record).check(exercise) == ""
    (exercise / TESTS).unlink()
    message = Integrity.open(pack, record).check(exercise)
    assert f"{exercise / TESTS} has been removed since the tutor first used this pack" in message
    assert f"attn-tutor trust --exercises {pack}" in message


def test_a_touched_but_unchanged_file_is_not_a_change(tmp_path: Path) -> None:
    exercise = copied_basics(tmp_path)
    integrity = Integrity.open(exercise.parent, tmp_path / "record.json")
    os.utime(exercise / TESTS, ns=(1, 1))
    assert integrity.check(exercise) == ""


def test_the_manifest_is_up_to_date() -> None:
    changes = stale_manifest()
    listed = "\n".join(f"  {c.name} {c.kind.value}" for c in changes)
    assert changes == [], (
        f"tutor/{fingerprint.MANIFEST_FILE} does not match these files:\n{listed}\n"
        f"regenerate it with `{REGENERATE}` (and commit it)"
    )


def test_the_manifest_covers_the_built_in_pack_and_the_run_side_modules() -> None:
    manifest = Manifest.read(fingerprint.PACKAGE / fingerprint.MANIFEST_FILE)
    assert manifest is not None
    assert f"{BASICS.name}/{TESTS}" in manifest.exercises
    assert f"{BASICS.name}/mutants/no_softmax.py" in manifest.exercises
    assert f"{BASICS.name}/problem.py" not in manifest.exercises  # no run reads the skeleton
    assert {"kit/assertions.py", "worker/child.py", "core/protocol.py"} <= set(manifest.tutor)
    assert builtin_pack().resolve() == BASICS.parent.resolve()
