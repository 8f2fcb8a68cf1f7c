"""The fault suite, bad packs and bad input: `--exercises` pointing somewhere broken.

For every fault the learner gets one line that names the file (and the line, where there is
one) and says what to do; the valid exercises of the same pack still load and run; nothing
crashes or prints a traceback. Each fault is checked where a learner meets it: what
``catalog.load`` reports, what the CLI prints, and what the app shows.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console
from textual.content import Content
from textual.widgets import OptionList, Static

from tests.conftest import WILD_PACK, LiveRunner
from tests.scripted import ScriptedRunner, failing
from tests.ui_support import reading, settle
from tutor.cli import main
from tutor.core.catalog import load
from tutor.core.course import open_course
from tutor.core.protocol import Event
from tutor.ui.app import TutorApp

pytestmark = pytest.mark.fault

PLAIN = WILD_PACK / "01-plain-import"  # README, problem.py, solution.py, test_plain.py
GOOD_TITLE = "Adding with a plain import"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths (``--workspace ws``) land in the test's own folder."""
    monkeypatch.chdir(tmp_path)


def exercise(root: Path, name: str) -> Path:
    """A valid exercise folder (a copy of the wild pack's first), to break as a case needs."""
    folder = root / name
    shutil.copytree(PLAIN, folder)
    return folder


# ----- the faults found while loading -------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One broken exercise: how to break it, which file the message names, what it says."""

    folder: str
    build: Callable[[Path], None]
    names: str  # the path the problem names, relative to the pack
    says: tuple[str, ...]  # every one of these is in the message: what is wrong, where, the fix

    def make(self, root: Path) -> None:
        self.build(exercise(root, self.folder))


def write(name: str, content: str | bytes) -> Callable[[Path], None]:
    """A build step that writes one file of the exercise (text as UTF-8, bytes as they are)."""

    def build(folder: Path) -> None:
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)

    return build


def latin1_readme(folder: Path) -> None:
    (folder / "README.md").write_bytes("# Leçon\n\nÉcrivez la somme.\n".encode("latin-1"))


def no_problem(folder: Path) -> None:
    (folder / "problem.py").unlink()


def link_out(name: str) -> Callable[[Path], None]:
    """A build step that makes the exercise's ``name`` a link to a file outside the pack."""

    def build(folder: Path) -> None:
        private = folder.parent.parent / f"private-{folder.name}-{name}"
        private.write_text("someone's own file\n")
        (folder / name).unlink()
        (folder / name).symlink_to(private)

    return build


FAULTS = {
    "toml syntax": Fault(
        "02-bad-toml",
        write("exercise.toml", 'title = "Adding"\ndifficulty = \n'),
        "02-bad-toml/exercise.toml",
        ("line 2, column 14", "not valid TOML", "correct the syntax there"),
    ),
    "hint links to a missing test": Fault(
        "02-bad-link",
        write(
            "exercise.toml",
            '[[hints]]\ntier = 1\ntests = ["test_add", "test_subtract"]\ntext = "Use +."\n',
        ),
        "02-bad-link/exercise.toml",
        ("line 3:", "test_subtract", "no test_*.py defines", "correct the name", "write that test"),
    ),
    "number of the wrong type": Fault(
        "02-wrong-type",
        write("exercise.toml", 'title = "Adding"\nnumber = "two"\n'),
        "02-wrong-type/exercise.toml",
        ('line 2: number = "two" should be a whole number, like number = 2',),
    ),
    "number against the folder name": Fault(
        "02-other-number",
        write("exercise.toml", "number = 5\n"),
        "02-other-number/exercise.toml",
        ("line 1:", "number = 5 does not match the folder name 02-other-number", "agree"),
    ),
    "hints not written as tables": Fault(
        "02-hints-text",
        write("exercise.toml", 'title = "Adding"\nhints = "use +"\n'),
        "02-hints-text/exercise.toml",
        ("line 2: hints should be written as [[hints]] tables",),
    ),
    "README not UTF-8": Fault(
        "02-latin-readme",
        latin1_readme,
        "02-latin-readme/README.md",
        ("line 1:", "byte 0xe7 is not UTF-8", "save the file with the UTF-8 encoding"),
    ),
    "exercise.toml not UTF-8": Fault(
        "02-latin-toml",
        write("exercise.toml", b'title = "x"\n# caf\xe9\n'),
        "02-latin-toml/exercise.toml",
        ("line 2:", "byte 0xe9 is not UTF-8", "UTF-8 encoding"),
    ),
    "no problem.py": Fault(
        "02-no-problem",
        no_problem,
        "02-no-problem",
        ("has no problem.py", "add the skeleton the learner starts from"),
    ),
    "a mutant outside mutants/": Fault(
        "02-mutant-out",
        write(
            "exercise.toml",
            '[[mutants]]\nfile = "../../../outside.py"\nmisconception = "none"\n',
        ),
        "02-mutant-out/exercise.toml",
        ('line 2: mutant file = "../../../outside.py" points outside mutants/', "inside"),
    ),
    "a lesson that links out": Fault(
        "02-lesson-out",
        link_out("README.md"),
        "02-lesson-out/README.md",
        ("(the lesson) links to", "outside the exercise folder", "put the file itself"),
    ),
    "a skeleton that links out": Fault(
        "02-skeleton-out",
        link_out("problem.py"),
        "02-skeleton-out/problem.py",
        ("(the skeleton) links to", "outside the exercise folder"),
    ),
    "a test file that links out": Fault(
        "02-test-out",
        link_out("test_plain.py"),
        "02-test-out/test_plain.py",
        ("(a test file) links to", "outside the exercise folder"),
    ),
    "a second exercise 01": Fault(
        "01-second",  # sorts after 01-good, so 01-good keeps the number
        lambda folder: None,
        "01-second",
        ("number 01 is already used by 01-good", "loaded instead", "another number"),
    ),
}
CASES = list(FAULTS)


def broken_pack(root: Path, *faults: Fault) -> Path:
    """01-good and 09-also-good, with the faulty exercises between them."""
    exercise(root, "01-good")
    exercise(root, "09-also-good")
    for fault in faults:
        fault.make(root)
    return root


GOOD_KEYS = ["01-good", "09-also-good"]


def one_line(text: str) -> bool:
    return "\n" not in text.strip() and "Traceback" not in text


@pytest.mark.parametrize("case", CASES)
def test_load_names_the_file_and_the_fix(tmp_path: Path, case: str) -> None:
    fault = FAULTS[case]
    catalog = load(broken_pack(tmp_path / "pack", fault))
    assert [e.key for e in catalog.exercises] == GOOD_KEYS
    [problem] = catalog.problems
    assert problem.path == tmp_path / "pack" / fault.names
    for words in fault.says:
        assert words in problem.message, problem.message
    assert one_line(str(problem))


def test_every_fault_in_one_pack_still_loads_the_good_ones(tmp_path: Path) -> None:
    catalog = load(broken_pack(tmp_path, *FAULTS.values()))
    assert [e.key for e in catalog.exercises] == GOOD_KEYS
    assert sorted(p.path for p in catalog.problems) == sorted(
        tmp_path / fault.names for fault in FAULTS.values()
    )


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``attn-tutor ARGS`` in this process: the exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    assert isinstance(exited.value.code, int)
    return exited.value.code, out, err


@pytest.mark.parametrize("case", CASES)
def test_cli_list_skips_with_the_message_and_lists_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    fault = FAULTS[case]
    pack = broken_pack(tmp_path / "pack", fault)
    # The pack given before the command, as the docs write it.
    code, out, err = run_cli(capsys, "--exercises", str(pack), "list", "--workspace", "ws")
    assert code == 0
    [problem] = load(pack).problems
    assert f"attn-tutor: skipped {problem}\n" in err
    assert [line[2:4] for line in out.splitlines() if line[2:4].isdigit()] == ["01", "09"]
    assert GOOD_TITLE in out
    assert "Traceback" not in out + err


@pytest.mark.parametrize("case", CASES)
def test_cli_check_of_a_skipped_exercise_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    fault = FAULTS[case]
    pack = broken_pack(tmp_path / "pack", fault)
    code, _, err = run_cli(
        capsys, "check", fault.folder, "--exercises", str(pack), "--workspace", "w"
    )
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"attn-tutor: exercise {fault.folder!r} was skipped: ")
    assert str(tmp_path / "pack" / fault.names) in last
    assert all(words in last for words in fault.says), last
    assert "Traceback" not in err


def test_cli_check_by_number_finds_the_skipped_exercise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = broken_pack(tmp_path / "pack", FAULTS["toml syntax"])
    code, _, err = run_cli(capsys, "--exercises", str(pack), "check", "2", "--workspace", "w")
    assert code == 2
    bad = pack / "02-bad-toml" / "exercise.toml"
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"attn-tutor: exercise '2' was skipped: {bad}: line 2, column 14")


def test_cli_in_a_real_process_prints_lines_not_tracebacks(tmp_path: Path) -> None:
    pack = broken_pack(tmp_path / "pack", *FAULTS.values())
    result = subprocess.run(
        [sys.executable, "-m", "tutor", "--exercises", str(pack), "list", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ATTN_TUTOR_WORKSPACE": str(tmp_path / "ws")},
    )
    assert result.returncode == 0, result.stderr
    assert [row["number"] for row in json.loads(result.stdout)] == [1, 9]
    lines = result.stderr.splitlines()
    assert all(line.startswith("attn-tutor: ") for line in lines), result.stderr
    skipped = [line for line in lines if line.startswith("attn-tutor: skipped ")]
    assert len(skipped) == len(FAULTS)
    assert "Traceback" not in result.stderr


def toasts(app: TutorApp) -> list[str]:
    """The text of every notification on screen."""
    shown = []
    for toast in app.screen.query("Toast"):
        content = toast.render()
        assert isinstance(content, Content)
        shown.append(content.plain)
    return shown


def body(app: TutorApp, selector: str) -> str:
    """The plain text a Static shows."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


def exercise_list(app: TutorApp) -> list[str]:
    options = app.query_one("#exercises", OptionList)
    return [str(options.get_option_at_index(i).id) for i in range(options.option_count)]


def test_app_shows_each_problem_and_lists_the_good_exercises(tmp_path: Path) -> None:
    # Brackets in the path and in the messages ([[hints]]) are shown as written, not as markup.
    pack = broken_pack(tmp_path / "pack [v2]", *FAULTS.values())
    course = open_course(pack, tmp_path / "ws")

    async def scenario() -> None:
        app = TutorApp(course, runner=ScriptedRunner(failing), watch=False, theme="textual-dark")
        async with app.run_test(size=(160, 50), notifications=True) as pilot:
            await settle(pilot)
            assert exercise_list(app) == GOOD_KEYS
            assert app.exercise.key == "01-good"
            shown = toasts(app)
            assert len(shown) == len(FAULTS) + 1  # and "your workspace is …"
            for fault in FAULTS.values():
                [toast] = [
                    text for text in shown if text.startswith(f"skipped {pack / fault.names}:")
                ]
                assert all(words in toast for words in fault.says), toast
            assert "1 of 2 tests pass" in body(app, "#results-body")

    asyncio.run(scenario())


# ----- the pack itself: missing, empty, a single exercise -----------------------------------


def test_missing_pack_is_one_line_with_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no such pack"
    [problem] = load(missing).problems
    assert problem.path == missing
    assert problem.message == "no such folder; check the --exercises path"
    for command in (["list"], ["check"], []):  # [] opens the app: it never gets that far
        code, out, err = run_cli(capsys, "--exercises", str(missing), *command)
        assert code == 2
        assert err == f"attn-tutor: {missing}: no such folder; check the --exercises path\n"
        assert out == ""


def test_empty_pack_says_what_a_pack_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an exercise\n")
    [problem] = load(empty).problems
    assert problem.message.startswith("holds no exercise folders")
    assert "each with README.md, problem.py and test_*.py" in problem.message
    code, out, err = run_cli(capsys, "--exercises", str(empty), "list", "--workspace", "w")
    assert code == 2
    assert err == f"attn-tutor: {problem}\n"
    assert out == ""


def test_a_single_exercise_folder_points_at_its_parent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = exercise(tmp_path / "pack", "01-only")
    code, _, err = run_cli(capsys, "--exercises", str(folder), "list", "--workspace", "w")
    assert code == 2
    assert err == (
        f"attn-tutor: {folder}: is a single exercise; "
        f"point --exercises at the folder that holds it ({tmp_path / 'pack'})\n"
    )


def test_a_pack_of_only_broken_exercises_names_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = tmp_path / "pack"
    FAULTS["toml syntax"].make(pack)
    FAULTS["no problem.py"].make(pack)
    code, _, err = run_cli(capsys, "--exercises", str(pack), "list", "--workspace", "w")
    assert code == 2
    assert one_line(err)
    assert err.startswith(f"attn-tutor: no exercises could be loaded from {pack}: ")
    assert f"{pack / '02-bad-toml' / 'exercise.toml'}: line 2, column 14" in err
    assert f"{pack / '02-no-problem'}: has no problem.py" in err


def test_exercises_given_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = broken_pack(tmp_path / "pack")
    before = run_cli(capsys, "--exercises", str(pack), "list", "--json", "--workspace", "w")
    after = run_cli(capsys, "list", "--json", "--exercises", str(pack), "--workspace", "w")
    for code, out, _ in (before, after):
        assert code == 0
        assert [row["id"] for row in json.loads(out)] == ["good", "also-good"]


# ----- a path with spaces and letters beyond ASCII ------------------------------------------


TITLE_NOT_TEXT = 'line 1: title = 3 should be text in quotes, like title = "..."'


def unicode_pack(tmp_path: Path) -> Path:
    """A pack under "my packs/Übungen été": two good exercises, two broken ones."""
    root = tmp_path / "my packs" / "Übungen été"
    exercise(root, "01-plain")
    exercise(root, "02-café crème")
    FAULTS["toml syntax"].make(root)  # 02-bad-toml, skipped: 02-café crème keeps the number
    exercise(root, "03-straße")
    (root / "03-straße" / "exercise.toml").write_text("title = 3\n", encoding="utf-8")
    return root


def test_unicode_path_loads_and_names_its_problems(tmp_path: Path) -> None:
    root = unicode_pack(tmp_path)
    catalog = load(root)
    assert [e.key for e in catalog.exercises] == ["01-plain", "02-café crème"]
    assert [str(p) for p in catalog.problems] == [
        f"{root}/02-bad-toml/exercise.toml: line 2, column 14: not valid TOML (Invalid value); "
        "correct the syntax there",
        f"{root}/03-straße/exercise.toml: {TITLE_NOT_TEXT}",
    ]
    assert catalog.find("café crème") == catalog.exercises[1]


def test_unicode_path_in_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = unicode_pack(tmp_path)
    workspace = tmp_path / "mon espace à moi"
    code, out, err = run_cli(
        capsys, "--exercises", str(root), "list", "--workspace", str(workspace)
    )
    assert code == 0
    assert f"attn-tutor: skipped {root}/03-straße/exercise.toml: line 1: title = 3" in err
    assert (workspace / "02-café crème" / "problem.py").is_file()
    code, out, err = run_cli(
        capsys, "where", "--exercises", str(root), "--workspace", str(workspace)
    )
    assert code == 0
    assert f"exercises: {root}\n" in out
    assert "Traceback" not in err


def test_unicode_path_in_the_app(tmp_path: Path) -> None:
    root = unicode_pack(tmp_path)
    course = open_course(root, tmp_path / "mon espace à moi")

    async def scenario() -> None:
        app = TutorApp(course, runner=ScriptedRunner(failing), watch=False, theme="textual-dark")
        async with app.run_test(size=(160, 50), notifications=True) as pilot:
            await settle(pilot)
            assert exercise_list(app) == ["01-plain", "02-café crème"]
            shown = toasts(app)
            assert f"skipped {root}/03-straße/exercise.toml: {TITLE_NOT_TEXT}" in shown
            await pilot.press("n")
            await settle(pilot)
            assert app.exercise.key == "02-café crème"
            assert "02-café crème/problem.py" in body(app, "#status")

    asyncio.run(scenario())


def attn(*args: str) -> subprocess.CompletedProcess[str]:
    """``attn-tutor ARGS`` in a process of its own, as a learner runs it."""
    return subprocess.run(
        [sys.executable, "-m", "tutor", *args], capture_output=True, text=True, timeout=180
    )


@pytest.mark.slow
def test_unicode_path_runs_in_the_real_worker(tmp_path: Path) -> None:
    root = unicode_pack(tmp_path)
    workspace = tmp_path / "mon espace à moi"
    args = ("--exercises", str(root), "--workspace", str(workspace))
    untouched = attn("check", "café crème", *args)
    assert untouched.returncode == 1, untouched.stdout + untouched.stderr
    assert f"{workspace}/02-café crème/problem.py" in untouched.stdout
    assert "not implemented yet" in untouched.stdout
    shutil.copy(root / "02-café crème" / "solution.py", workspace / "02-café crème" / "problem.py")
    solved = attn("check", "2", *args, "--json")
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert json.loads(solved.stdout)["verdict"] == "passed"
    assert "Traceback" not in untouched.stderr + solved.stderr


# ----- a test file that cannot be imported: found only when it runs -------------------------

MISSING_MODULE = "no_such_module_for_attn_tutor"


def unimportable_pack(root: Path) -> Path:
    """01-good; 02-import-error and 03-syntax-error each have a test file that cannot load."""
    exercise(root, "01-good")
    imports = exercise(root, "02-import-error")
    (imports / "test_extra.py").write_text(
        f"import {MISSING_MODULE}\n\n\ndef test_extra():\n    pass\n"
    )
    syntax = exercise(root, "03-syntax-error")
    (syntax / "test_extra.py").write_text("def test_extra(:\n    pass\n")
    return root


def test_an_unimportable_test_file_still_loads(tmp_path: Path) -> None:
    catalog = load(unimportable_pack(tmp_path))
    assert not catalog.problems  # read as text, never imported: found when it runs
    assert [e.key for e in catalog.exercises] == ["01-good", "02-import-error", "03-syntax-error"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("number", "error"),
    [
        ("2", f"ModuleNotFoundError: No module named '{MISSING_MODULE}'"),
        ("3", "SyntaxError: invalid syntax"),
    ],
)
def test_check_names_the_test_file_that_cannot_load(
    tmp_path: Path, number: str, error: str
) -> None:
    pack = unimportable_pack(tmp_path / "pack")
    args = ("--exercises", str(pack), "--workspace", str(tmp_path / "ws"))
    shown = attn("check", number, *args)
    assert shown.returncode == 1
    assert "  error in test_extra.py:1\n" in shown.stdout  # the file and its line
    assert error in shown.stdout
    assert "\nERROR: a test file could not be loaded: see the collection error\n" in shown.stdout
    assert "your code raised" not in shown.stdout  # the pack's fault, not the learner's
    assert "Traceback" not in shown.stdout + shown.stderr
    if number != "2":
        return  # one JSON run is enough: a worker start is slow
    as_json = json.loads(attn("check", number, *args, "--json").stdout)
    assert as_json["verdict"] == "error"
    assert [(e["file"], error in e["message"]) for e in as_json["errors"]] == [
        ("test_extra.py", True)
    ]


@pytest.mark.slow
def test_verify_reports_the_test_file_that_cannot_load(tmp_path: Path) -> None:
    pack = unimportable_pack(tmp_path / "pack")
    result = attn("verify", "--exercises", str(pack))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("01 good ") and line.endswith(" ok") for line in lines)
    assert (
        "    the solution does not pass: test_extra.py line 1 could not be loaded "
        f"(ModuleNotFoundError: No module named '{MISSING_MODULE}')"
    ) in lines
    assert (
        "    the solution does not pass: test_extra.py line 1 could not be loaded "
        "(SyntaxError: invalid syntax)"
    ) in lines
    assert "1 of 3 exercises verified" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_app_shows_the_test_file_that_cannot_load(tmp_path: Path) -> None:
    """The worker's real events for the broken exercise, shown by the app."""
    pack = unimportable_pack(tmp_path / "pack")
    course = open_course(pack, tmp_path / "ws")
    broken = course.catalog.find("2")
    assert broken is not None
    live = LiveRunner(timeout=8.0)
    try:
        report = live.run(broken.path, course.problem(broken))
    finally:
        live.close()
    events: list[Event] = [*report.errors, *report.outcomes]
    assert report.finished is not None
    events.append(report.finished)

    def script(_: str) -> list[Event]:
        return events

    async def scenario() -> None:
        app = TutorApp(course, runner=ScriptedRunner(script), watch=False, theme="textual-dark")
        async with app.run_test(size=(160, 50), notifications=True) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
            assert app.exercise.key == "02-import-error"
            shown = body(app, "#results-body")
            assert shown.startswith("ERROR  a test file could not be loaded")
            assert "error in test_extra.py" in shown
            assert f"No module named '{MISSING_MODULE}'" in reading(shown)
            assert "exit()" not in shown  # no advice about the learner's code

    asyncio.run(scenario())
