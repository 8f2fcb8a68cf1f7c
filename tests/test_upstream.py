"""Packs run as their authors run them: ``cd NN && PYTHONPATH=. pytest``.

The fixture pack tests/packs/upstream has the plain layout (no exercise.toml but where a
limit is tested). Its exercises reach each other by relative paths, and one skeleton
imports a helper from the pack's own solution.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TESTS, LiveRunner
from tutor.core.catalog import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    Exercise,
    PackProblem,
    load,
    read_exercise,
)
from tutor.core.protocol import RunFinished, RunRequest, Verdict
from tutor.worker.child import Layout, imported_modules, lay_out, learner_names, plan
from tutor.worker.server import memory_advice

UPSTREAM = TESTS / "packs" / "upstream"
LINKED = ["01-softmax", "02-attention", "03-block"]  # the exercises that reach each other


@pytest.fixture(scope="module")
def pack_limits() -> Iterator[LiveRunner]:
    """A runner with no --timeout: each run gets the limit its pack sets."""
    live = LiveRunner(timeout=None)
    yield live
    live.close()


def learner_file(tmp_path: Path, code: str) -> Path:
    path = tmp_path / "learner" / "problem.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)
    return path


def broken(source: str) -> str:
    """The solution with its result zeroed: still importable, plainly wrong."""
    return source.replace("return ", "return 0 * ", 1)


def upstream_verdict(tmp_path: Path, key: str, code: str) -> Verdict:
    """The verdict of the authors' way: a copy of the pack, the learner's code as problem.py,
    and pytest started from the exercise's folder with ``PYTHONPATH=.``."""
    pack = tmp_path / "upstream-copy"
    shutil.rmtree(pack, ignore_errors=True)
    shutil.copytree(UPSTREAM, pack)
    (pack / key / "problem.py").write_text(code)
    env = {**os.environ, "PYTHONPATH": "."}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=pack / key,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return Verdict.PASSED if done.returncode == 0 else Verdict.FAILED


@pytest.mark.slow
@pytest.mark.parametrize("key", LINKED)
@pytest.mark.parametrize("kind", ["solution", "broken"])
def test_the_tutor_gives_the_verdict_of_the_authors_way(
    live_runner: LiveRunner, tmp_path: Path, key: str, kind: str
) -> None:
    source = (UPSTREAM / key / "solution.py").read_text()
    code = source if kind == "solution" else broken(source)
    report = live_runner.run(UPSTREAM / key, learner_file(tmp_path, code))
    assert report.finished is not None
    expected = Verdict.PASSED if kind == "solution" else Verdict.FAILED
    assert report.finished.verdict is expected, (report.headline(), report.errors)
    assert upstream_verdict(tmp_path, key, code) is expected


@pytest.mark.slow
def test_a_skeleton_importing_the_packs_solution_fails_as_not_implemented(
    live_runner: LiveRunner,
) -> None:
    report = live_runner.run(UPSTREAM / "03-block", UPSTREAM / "03-block" / "problem.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.FAILED, (report.headline(), report.errors)
    assert report.outcomes
    assert all(outcome.not_implemented for outcome in report.outcomes)


def heavy_copy(tmp_path: Path, exercise_toml: str | None, pack_toml: str | None) -> Path:
    """A copy of the pack's heavy exercise (its test sleeps 1.5 s) with the limits given."""
    pack = tmp_path / "pack"
    shutil.copytree(UPSTREAM / "04-heavy", pack / "04-heavy")
    metadata = pack / "04-heavy" / "exercise.toml"
    metadata.unlink()
    if exercise_toml is not None:
        metadata.write_text(exercise_toml)
    if pack_toml is not None:
        (pack / "pack.toml").write_text(pack_toml)
    return pack / "04-heavy"


@pytest.mark.slow
def test_a_heavy_exercise_runs_within_the_timeout_its_exercise_toml_sets(
    pack_limits: LiveRunner,
) -> None:
    """exercise.toml says timeout = 5, so the 1.5 s test passes."""
    exercise = UPSTREAM / "04-heavy"
    report = pack_limits.run(exercise, exercise / "solution.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.PASSED, report.headline()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("exercise_toml", "pack_toml", "setting"),
    [
        ("timeout = 1\n", "timeout = 30\n", "timeout in 04-heavy/exercise.toml"),
        (None, "timeout = 1\n", "timeout in pack.toml"),
    ],
    ids=["exercise.toml", "pack.toml"],
)
def test_a_run_that_times_out_names_the_setting_to_raise(
    pack_limits: LiveRunner,
    tmp_path: Path,
    exercise_toml: str | None,
    pack_toml: str,
    setting: str,
) -> None:
    exercise = heavy_copy(tmp_path, exercise_toml, pack_toml)
    report = pack_limits.run(exercise, exercise / "solution.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.TIMED_OUT, report.headline()
    assert "within 1 s" in report.finished.message
    assert f"raise {setting}" in report.finished.message


@pytest.mark.slow
def test_the_command_line_timeout_wins_over_the_pack(tmp_path: Path) -> None:
    short = heavy_copy(tmp_path / "short", "timeout = 1\n", "timeout = 1\n")
    long = UPSTREAM / "04-heavy"  # timeout = 5
    generous = LiveRunner(timeout=5)
    strict = LiveRunner(timeout=1)
    try:
        passed = generous.run(short, short / "solution.py").finished
        timed_out = strict.run(long, long / "solution.py").finished
    finally:
        generous.close()
        strict.close()
    assert passed is not None
    assert passed.verdict is Verdict.PASSED, passed
    assert timed_out is not None
    assert timed_out.verdict is Verdict.TIMED_OUT, timed_out
    assert "raise --timeout" in timed_out.message


def test_the_layout_puts_siblings_beside_the_exercise_as_links(tmp_path: Path) -> None:
    exercise = UPSTREAM / "02-attention"
    layout = plan(exercise, tmp_path)
    folder = lay_out(layout, b"LEARNER = 1\n")
    assert folder == tmp_path / "upstream" / "02-attention" == layout.folder
    assert Path.cwd() != folder
    assert not folder.is_symlink()
    assert (folder / "problem.py").read_bytes() == b"LEARNER = 1\n"
    assert (folder / "solution.py").read_bytes() == (exercise / "solution.py").read_bytes()
    assert (folder / "test_attention.py").is_file()
    assert not (folder / "README.md").exists()
    for sibling in ("01-softmax", "03-block", "pack.toml"):
        link = folder.parent / sibling
        assert link.is_symlink()
        assert link.resolve() == (UPSTREAM / sibling).resolve()
    assert (folder / ".." / "01-softmax" / "masks.py").is_file()


def test_a_relative_import_gets_a_package_with_a_module_name(tmp_path: Path) -> None:
    """pytest makes a package only of a folder named like a module, and 02-relative is not
    one: the run names it so, and keeps the real name as a link."""
    exercise = TESTS / "packs" / "wild" / "02-relative-import"
    layout = plan(exercise, tmp_path)
    folder = lay_out(layout, b"")
    assert folder.name.isidentifier()
    assert (folder / "__init__.py").is_file()
    assert (folder.parent / exercise.name).resolve() == folder.resolve()
    assert learner_names(layout).during_import == ("problem", f"{folder.name}.problem")


@pytest.mark.parametrize(
    ("test_source", "learner_plays_solution"),
    [
        ("from problem import f\n", False),
        ("from solution import f\n", True),
        ("import solution\n", True),
        ("from problem import f\nfrom solution import f as g\n", False),
        ("from .solution import f\n", True),
        ("import torch\n", False),
    ],
)
def test_solution_is_the_learners_only_where_the_tests_never_import_problem(
    tmp_path: Path, test_source: str, learner_plays_solution: bool
) -> None:
    folder = tmp_path / "pack" / "01-x"
    folder.mkdir(parents=True)
    (folder / "test_x.py").write_text(test_source)
    layout = Layout(folder, folder, imported_modules(folder))
    names = learner_names(layout)
    assert "problem" in names.during_import
    assert "solution" not in names.during_import  # the learner's own import gets the pack's
    assert ("solution" in names.after_import) is learner_plays_solution


def test_a_test_file_that_does_not_parse_is_left_to_pytest(tmp_path: Path) -> None:
    (tmp_path / "test_bad.py").write_text("def (:\n")
    (tmp_path / "test_good.py").write_text("from solution import f\n")
    assert imported_modules(tmp_path) == {"solution"}


# Limits in pack.toml and exercise.toml.


def test_the_fixture_pack_loads_with_its_limits() -> None:
    catalog = load(UPSTREAM)
    assert not catalog.problems, [str(p) for p in catalog.problems]
    softmax = catalog.find("1")
    heavy = catalog.find("4")
    assert isinstance(softmax, Exercise)
    assert isinstance(heavy, Exercise)
    assert softmax.limits().timeout == 20
    assert softmax.limits().timeout_setting == "timeout in pack.toml"
    assert softmax.limits().memory_mb == 3072
    assert softmax.limits().memory_setting == "memory in pack.toml"
    assert heavy.limits().timeout == 5
    assert heavy.limits().timeout_setting == "timeout in 04-heavy/exercise.toml"
    assert heavy.limits(timeout=2).timeout == 2
    assert heavy.limits(timeout=2).timeout_setting == "--timeout"


def simple_pack(tmp_path: Path, exercise_toml: str | None, pack_toml: str | None) -> Path:
    folder = tmp_path / "01-one"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# One\n")
    (folder / "problem.py").write_text("x = 1\n")
    (folder / "test_one.py").write_text("def test_one():\n    pass\n")
    if exercise_toml is not None:
        (folder / "exercise.toml").write_text(exercise_toml)
    if pack_toml is not None:
        (tmp_path / "pack.toml").write_text(pack_toml)
    return folder


def test_without_settings_the_defaults_apply(tmp_path: Path) -> None:
    exercise = read_exercise(simple_pack(tmp_path, None, None))
    assert isinstance(exercise, Exercise)
    limits = exercise.limits()
    assert (limits.timeout, limits.memory_mb) == (DEFAULT_TIMEOUT, DEFAULT_MEMORY_MB)
    assert exercise.differential is True
    assert exercise.tokens == ()


def test_exercise_toml_reads_limits_comparison_and_labels(tmp_path: Path) -> None:
    toml = 'timeout = 2.5\nmemory = 512\ndifferential = false\ntokens = ["The", "cat"]\n'
    simple_pack(tmp_path, toml, "timeout = 30\nmemory = 4096\n")
    [exercise] = load(tmp_path).exercises
    limits = exercise.limits()
    assert (limits.timeout, limits.memory_mb) == (2.5, 512)
    assert limits.memory_setting == "memory in 01-one/exercise.toml"
    assert exercise.differential is False
    assert exercise.tokens == ("The", "cat")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('timeout = "ten"\n', 'line 1: timeout = "ten" should be a positive number of seconds'),
        ("\ntimeout = -1\n", "line 2: timeout = -1 should be a positive number of seconds"),
        ("timeout = 0\n", "timeout = 0 should be a positive number of seconds, like timeout = 30"),
        ("memory = 1.5\n", "memory = 1.5 should be a positive whole number of MB"),
        ("memory = true\n", "memory = true should be a positive whole number of MB"),
        ("differential = 0\n", "differential = 0 should be true or false"),
        ('tokens = "The cat"\n', "tokens should be a list of words in quotes"),
        ("tokens = [1, 2]\n", "tokens should be a list of words in quotes"),
    ],
)
def test_a_bad_value_in_exercise_toml_is_one_line(tmp_path: Path, toml: str, expected: str) -> None:
    folder = simple_pack(tmp_path, toml, None)
    found = read_exercise(folder)
    assert isinstance(found, PackProblem)
    assert found.path == folder / "exercise.toml"
    assert expected in found.message
    assert "\n" not in str(found)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("timeout = -5\n", "line 1: timeout = -5 should be a positive number of seconds"),
        ('\nmemory = "lots"\n', 'line 2: memory = "lots" should be a positive whole number'),
        ("timeout = [\n", "not valid TOML"),
    ],
)
def test_a_bad_pack_toml_costs_only_its_limits(tmp_path: Path, toml: str, expected: str) -> None:
    simple_pack(tmp_path, None, toml)
    catalog = load(tmp_path)
    assert [e.key for e in catalog.exercises] == ["01-one"]
    assert catalog.exercises[0].limits().timeout == DEFAULT_TIMEOUT
    [problem] = catalog.problems
    assert problem.path == tmp_path / "pack.toml"
    assert expected in problem.message
    assert "the defaults apply" in problem.message


def test_out_of_memory_names_the_memory_setting() -> None:
    request = RunRequest(run_id=1, memory_mb=512, memory_setting="memory in 07-x/exercise.toml")
    oom = RunFinished(run_id=1, verdict=Verdict.OUT_OF_MEMORY, message="a test ran out of memory")
    advised = memory_advice(request, oom)
    assert advised.message == (
        "a test ran out of memory; the limit is 512 MB: if the exercise needs more, "
        "raise memory in 07-x/exercise.toml"
    )
    failed = RunFinished(run_id=1, verdict=Verdict.FAILED)
    assert memory_advice(request, failed) is failed


@pytest.mark.slow
def test_the_exercises_and_the_packs_conftest_give_their_fixtures(
    live_runner: LiveRunner, tmp_path: Path
) -> None:
    pack = tmp_path / "pack"
    folder = simple_pack(pack, None, None)
    (folder / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef answer():\n    return 42\n"
    )
    (pack / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef greeting():\n    return 'hi'\n"
    )
    (folder / "test_one.py").write_text(
        "from problem import x\n\n\ndef test_one(answer, greeting):\n"
        "    assert (x, answer, greeting) == (1, 42, 'hi')\n"
    )
    report = live_runner.run(folder, folder / "problem.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.PASSED, (report.headline(), report.errors)
