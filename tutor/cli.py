"""The ``attn-tutor`` command: the app by default, and headless subcommands.

Nothing here imports torch or textual at module level: the headless commands stay
quick, and the app is imported only when it is opened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from tutor.core import fingerprint
from tutor.core.catalog import Exercise
from tutor.core.course import Course, open_course
from tutor.core.hints import Fit, tier_name
from tutor.core.protocol import Outcome
from tutor.core.report import RunReport
from tutor.core.words import wrap_block
from tutor.core.workspace import ENV_VAR, WorkspaceError
from tutor.runner import Runner

if TYPE_CHECKING:
    from rich.console import Console

    from tutor.core.heatmap import Style

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the learner: one clear line, exit code 2."""


def package_version() -> str:
    # Imported here: importlib.metadata costs 40 ms of every start, and only --version needs it.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("attn-tutor")
    except PackageNotFoundError:
        return "unknown"


class ShowVersion(argparse.Action):
    """--version, reading the installed version only when asked."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"attn-tutor {package_version()}")
        parser.exit()


def add_common_options(parser: argparse.ArgumentParser, *, before_command: bool) -> None:
    """--exercises, --workspace and --timeout, accepted before or after the command.

    After the command their defaults are left out, so they never undo the same option
    given before it (``attn-tutor --workspace W where``).
    """

    def default(value: object) -> object:
        return value if before_command else argparse.SUPPRESS

    parser.add_argument(
        "--exercises",
        type=Path,
        metavar="DIR",
        default=default(None),
        help="a folder of exercise folders (default: built-in)",
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        metavar="DIR",
        default=default(None),
        help=f"where your problem.py files live (default: ${ENV_VAR}, else ~/attn-tutor)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(None),
        metavar="S",
        help="time limit per run (default: the pack's timeout, else 10)",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="attn-tutor",
        description="Learn attention by writing it. With no command, opens the tutor: edit "
        "an exercise's problem.py in your editor and see the tests on every save.",
    )
    top.add_argument("--version", action=ShowVersion, nargs=0, help="show the version and exit")
    add_common_options(top, before_command=True)
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common, before_command=False)
    top.add_argument("--poll", action="store_true", help="watch files by polling (network drives)")
    top.add_argument(
        "--theme",
        metavar="NAME",
        help="colour theme (default: fits the terminal; NO_COLOR gives attn-light)",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    listing = commands.add_parser("list", parents=[common], help="the exercises and your status")
    listing.add_argument("--json", action="store_true")
    check = commands.add_parser("check", parents=[common], help="run an exercise's tests now")
    check.add_argument(
        "exercise", nargs="?", metavar="EX", help="number or name (default: current)"
    )
    check.add_argument("--json", action="store_true")
    explain = commands.add_parser(
        "explain",
        parents=[common],
        help="run an exercise and work through the smallest input where yours and the "
        "reference differ",
    )
    explain.add_argument(
        "exercise", nargs="?", metavar="EX", help="number or name (default: current)"
    )
    explain.add_argument("--ascii", action="store_true", help="ASCII only")
    hint = commands.add_parser("hint", parents=[common], help="show the next hint")
    hint.add_argument("exercise", metavar="EX")
    hint.add_argument("--all", action="store_true", help="every hint of the exercise")
    reset = commands.add_parser(
        "reset", parents=[common], help="restore the skeleton (your file is backed up first)"
    )
    reset.add_argument("exercise", metavar="EX")
    commands.add_parser("where", parents=[common], help="where your files and progress live")
    show = commands.add_parser(
        "show", parents=[common], help="your attention weights beside the reference, as text"
    )
    show.add_argument("exercise", nargs="?", metavar="EX", help="number or name (default: current)")
    show.add_argument(
        "--head",
        type=head_choice,
        default=1,
        metavar="N",
        help="which head (from 1), or all: every head small, side by side",
    )
    show.add_argument("--ascii", action="store_true", help="ASCII only, no Unicode shades")
    show.add_argument("--numbers", action="store_true", help="print the weights as numbers")
    show.add_argument("--reference", action="store_true", help="only the reference's weights")
    verify = commands.add_parser(
        "verify", parents=[common], help="check a pack: solutions pass, skeletons and mutants fail"
    )
    verify.add_argument("only", nargs="*", metavar="EX", help="only these exercises")
    commands.add_parser(
        "trust",
        parents=[common],
        help="accept a pack's files as they are now, after its author changed them",
    )
    return top


def head_choice(text: str) -> int | str:
    """``--head``: a head number, or "all" for the overview of every head."""
    if text.strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a head number nor all") from None


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        code = dispatch(args)
    except (UsageError, WorkspaceError) as error:
        print(f"attn-tutor: {error}", file=sys.stderr)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def terminal_problem() -> str:
    """Why this terminal cannot show the app, in words that say what to do; else ''."""
    plain = "`attn-tutor check EX` and `attn-tutor show EX` print plain text anywhere"
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return f"the tutor needs an interactive terminal (input or output is redirected); {plain}"
    term = os.environ.get("TERM", "")
    if term in ("dumb", "unknown"):
        return (
            f"the tutor needs a terminal that can move the cursor, and TERM is {term!r}; "
            f"run it in a terminal such as xterm, tmux or screen (TERM=xterm-256color), or: {plain}"
        )
    return ""


def dispatch(args: argparse.Namespace) -> int:
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if args.command == "verify":
        from tutor.verify import verify_pack

        return verify_pack(args.exercises, args.only, timeout=args.timeout)
    if args.command == "trust" and fingerprint.is_builtin(args.exercises):
        raise UsageError(  # before the workspace is opened: nothing to create for it
            "the built-in exercises are checked against the fingerprint shipped with the "
            "tutor, which no command changes; give another pack with --exercises DIR"
        )
    course = open_course(args.exercises, args.workspace)
    for problem in course.catalog.problems:
        print(f"attn-tutor: skipped {problem}", file=sys.stderr)
    for message in course.messages:
        print(f"attn-tutor: {message}", file=sys.stderr)
    match args.command:
        case None:
            unfit = terminal_problem()
            if unfit:
                raise UsageError(unfit)
            # Textual sizes the screen through shutil.get_terminal_size, which trusts these
            # over the terminal: left exported by a shell or a tool, they would pin the app
            # to a size the window no longer has.
            os.environ.pop("COLUMNS", None)
            os.environ.pop("LINES", None)
            from tutor.ui.app import run_app

            try:
                return run_app(course, timeout=args.timeout, poll=args.poll, theme=args.theme)
            except ValueError as error:
                raise UsageError(str(error)) from None
        case "list":
            return list_exercises(course, as_json=args.json)
        case "check":
            return check(course, args.exercise, timeout=args.timeout, as_json=args.json)
        case "show":
            return show_picture(course, args)
        case "explain":
            return explain_example(course, args)
        case "hint":
            return show_hint(course, args.exercise, show_all=args.all)
        case "reset":
            return reset(course, args.exercise)
        case "trust":
            return trust_pack(course)
        case "where":
            print(f"workspace: {course.workspace.root}")
            print(f"exercises: {course.catalog.root}")
            print(f"progress:  {course.progress.path}")
            print(f"backups:   {course.workspace.backups}")
            return EXIT_OK
    raise UsageError(f"unknown command {args.command}")


def find(course: Course, key: str | None) -> Exercise:
    if key is None:
        exercise = course.current()
        if exercise is None:
            raise UsageError("the pack has no exercises")
        return exercise
    exercise = course.catalog.find(key)
    skipped = course.catalog.skipped(key) if exercise is None else None
    if skipped is not None:
        raise UsageError(f"exercise {key!r} was skipped: {skipped}")
    if exercise is None:
        known = ", ".join(f"{e.number:02d}" for e in course.catalog.exercises)
        raise UsageError(f"no exercise {key!r}; try a number ({known}) or `attn-tutor list`")
    return exercise


def list_exercises(course: Course, *, as_json: bool) -> int:
    rows = [
        {
            "number": e.number,
            "id": e.slug,
            "title": e.title,
            "difficulty": e.difficulty,
            "minutes": e.minutes,
            "solved": course.progress.of(e.key).solved,
            "status": course.status(e),
            "file": str(course.problem(e)),
        }
        for e in course.catalog.exercises
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    current = course.current()
    width = shutil.get_terminal_size((80, 24)).columns
    # Fixed columns, and the title wrapped at words in what is left, so rows stay aligned.
    fixed = len("> 02  ") + len("  level  solved  ") + len("not started") + 1
    title_width = max(20, width - fixed)
    print(f"{'':6}{'exercise':<{title_width}}  level  solved  latest run")
    for row, exercise in zip(rows, course.catalog.exercises, strict=True):
        marker = ">" if current is not None and exercise.key == current.key else " "
        level = "*" * (exercise.difficulty or 0)
        solved = "★" if row["solved"] else ""
        lines = wrap_block(exercise.title, title_width, indent=0)
        print(
            f"{marker} {exercise.number:02d}  {lines[0]:<{title_width}}  {level:<5}  "
            f"{solved:<6}  {row['status']}"
        )
        for more in lines[1:]:
            print(f"{'':6}{more}")
    solved_count = len(course.progress.solved & {e.key for e in course.catalog.exercises})
    print(f"\n★ {solved_count} of {len(rows)} solved (solved once: the star stays when a later")
    print("save fails; the latest run says where the exercise stands now)")
    return EXIT_OK


def check(course: Course, key: str | None, *, timeout: float | None, as_json: bool) -> int:
    exercise = find(course, key)
    problem = course.problem(exercise)
    report = asyncio.run(run_report(course, exercise, problem, timeout))
    finished = report.finished
    assert finished is not None
    if finished.verdict.counts_as_attempt:
        course.progress.record(exercise.key, report)
        course.progress.current = exercise.key
        warning = course.save_progress()
        if warning:
            print(f"attn-tutor: {warning}", file=sys.stderr)
    if as_json:
        print(
            json.dumps(
                {
                    "exercise": exercise.key,
                    "file": str(problem),
                    "verdict": finished.verdict.value,
                    "headline": report.headline(),
                    "tests": [asdict(o) for o in report.outcomes],
                    "errors": [asdict(e) for e in report.errors],
                    "finished": asdict(finished),
                    "example": strict_json(asdict(report.example)) if report.example else None,
                },
                indent=2,
            )
        )
    else:
        print_report(course, exercise, report)
    return EXIT_OK if report.passed else EXIT_FAILED


def strict_json(value: object) -> object:
    """``value`` with every infinity and NaN written as the string "inf", "-inf" or "nan":
    JSON has no such numbers, and strict readers (jq, browsers) refuse Python's spelling."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return [strict_json(item) for item in value]
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    return value


async def run_report(
    course: Course, exercise: Exercise, problem: Path, timeout: float | None
) -> RunReport:
    runner = Runner(timeout=timeout, pack=course.catalog.root, record=course.pack_record)
    report = RunReport()
    try:
        async for event in runner.run(exercise, problem):
            report.add(event)
    finally:
        await runner.close()
    return report


def print_report(course: Course, exercise: Exercise, report: RunReport) -> None:
    """The run as plain text, failing tests first; every message whole, wrapped at words."""
    width = shutil.get_terminal_size((80, 24)).columns

    def block(text: str) -> None:
        print("\n".join(wrap_block(text, width, indent=8)))

    print(f"{exercise.label}\n{course.problem(exercise)}\n")
    for error in report.errors:
        where = f"{error.file}:{error.line}" if error.line else error.file
        print(f"  error in {where}")
        block(error.message)
    for outcome in sorted(report.outcomes, key=lambda o: o.outcome is not Outcome.FAILED):
        mark = OUTCOME_MARKS[outcome.outcome]
        where = f"  (problem.py line {outcome.line})" if outcome.line else ""
        print(f"  {mark}  {outcome.name}{where}")
        if outcome.outcome is Outcome.FAILED and outcome.message:
            block(outcome.message)
    finished = report.finished
    assert finished is not None
    print(f"\n{finished.verdict.value.upper()}: {report.headline()}")
    if finished.verdict.advice:
        print(finished.verdict.advice)
    if report.probe is not None and report.probe.diagnosis and not report.passed:
        print("\n".join(wrap_block(report.probe.diagnosis, width, indent=0)))
    if finished.output.strip() and not report.passed:
        print("\nyour code printed (last lines):")
        for line in finished.output.strip().splitlines()[-10:]:
            print(f"  | {line}")
    upcoming = course.next_hint(exercise)
    if not report.passed and upcoming is not None and upcoming.fit is not Fit.GENERAL:
        print(f"\na hint fits {upcoming.fit.value}: attn-tutor hint {exercise.number}")


def terminal_style(console: Console, *, ascii: bool, numbers: bool = False) -> Style:
    """How to draw for this terminal: Unicode only on UTF-8 output, colour only when the
    console has some."""
    from tutor.core.heatmap import Style

    unicode = not ascii and (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    return Style(unicode=unicode, color=console.color_system is not None, numbers=numbers)


def show_picture(course: Course, args: argparse.Namespace) -> int:
    """Run the exercise once and print its attention picture."""
    from rich.console import Console

    from tutor.core.picture import heads, picture

    exercise = find(course, args.exercise)
    if not exercise.has_picture:
        raise UsageError(
            f"{exercise.label} has no attention picture (no probe.py, and no solution.py "
            "to compare with)"
        )
    report = asyncio.run(run_report(course, exercise, course.problem(exercise), args.timeout))
    width = shutil.get_terminal_size((100, 24)).columns
    console = Console(highlight=False, soft_wrap=False, width=width)
    probe = report.probe
    if probe is None:
        finished = report.finished
        reason = report.headline() if finished is not None else "the run did not finish"
        if not exercise.has_probe:
            raise UsageError(
                f"{exercise.label} has no attention picture this time ({reason}): without a "
                "probe.py it comes from the tests' calls of your code replayed on the "
                "reference, and none of them computed attention weights"
            )
        print(f"{exercise.label}: no picture ({reason})")
        return EXIT_FAILED
    all_heads = args.head == "all"
    if not all_heads and not 1 <= args.head <= heads(probe):
        raise UsageError(f"--head should be between 1 and {heads(probe)}, or all")
    style = terminal_style(console, ascii=args.ascii, numbers=args.numbers)
    console.print(f"{exercise.label}  ({report.headline()})", markup=False)
    text = picture(
        probe,
        width=width,
        head=None if all_heads else args.head - 1,
        style=style,
        reference_only=args.reference,
        all_heads=all_heads,
    )
    console.print(text)
    return EXIT_OK


def explain_example(course: Course, args: argparse.Namespace) -> int:
    """Run the exercise once and work through its example; exit as ``check`` does (0 when
    the run passed, so there is nothing to explain), and 0 without a run when the exercise
    has no reference to compare with."""
    from rich.console import Console

    from tutor.core.explain import explain, missing

    exercise = find(course, args.exercise)
    if exercise.solution is None:
        print(f"{exercise.label}: {missing(None, has_reference=False)}")
        return EXIT_OK
    report = asyncio.run(run_report(course, exercise, course.problem(exercise), args.timeout))
    example = report.example
    if example is None:
        print(f"{exercise.label}: {missing(report, has_reference=True)}")
        return EXIT_OK if report.passed else EXIT_FAILED
    width = shutil.get_terminal_size((80, 24)).columns
    console = Console(highlight=False, soft_wrap=False, width=width)
    style = terminal_style(console, ascii=args.ascii)
    console.print(f"{exercise.label}  ({report.headline()})", markup=False)
    console.print(explain(example, width=width, style=style))
    return EXIT_FAILED


OUTCOME_MARKS = {Outcome.PASSED: "PASS", Outcome.FAILED: "FAIL", Outcome.SKIPPED: "SKIP"}


def show_hint(course: Course, key: str, *, show_all: bool) -> int:
    exercise = find(course, key)
    if not exercise.hints:
        print(f"{exercise.label} has no hints; the lesson is in {exercise.lesson}")
        return EXIT_OK
    if show_all:
        for hint in sorted(exercise.hints, key=lambda h: h.tier):
            print(f"[{tier_name(hint)}] {hint.text}")
            course.progress.see_hint(exercise.key, hint.id)
    else:
        revealed = course.reveal_hint(exercise)
        if revealed is None:
            print(
                f"you have seen all {len(exercise.hints)} hints of {exercise.label}; "
                "--all shows them again"
            )
            return EXIT_OK
        print(f"[{tier_name(revealed.hint)}] {revealed.hint.text}")
        seen = course.progress.of(exercise.key).hints_seen
        left = sum(h.id not in seen for h in exercise.hints)
        print(f"\n{left} more hint{'s' if left != 1 else ''} left")
    warning = course.save_progress()
    if warning:
        print(f"attn-tutor: {warning}", file=sys.stderr)
    return EXIT_OK


def reset(course: Course, key: str) -> int:
    exercise = find(course, key)
    try:
        backup = course.workspace.reset(exercise)
    except OSError as error:
        raise UsageError(f"could not reset {course.problem(exercise)}: {error.strerror}") from None
    if backup is not None:
        print(f"your previous file is saved as {backup}")
    print(f"{course.problem(exercise)} is back to the skeleton")
    return EXIT_OK


def trust_pack(course: Course) -> int:
    """Accept the pack's files as they are now: runs stop no more for changes made before."""
    record = course.pack_record
    root = course.catalog.root
    assert record is not None  # the built-in pack was refused before the course was opened
    try:
        changes = fingerprint.trust(root, record)
    except OSError as error:
        raise UsageError(
            f"could not record the fingerprint of {root} in {record} ({error.strerror})"
        ) from None
    for change in changes or ():
        print(f"  {change.name} {change.kind.value}")
    if changes == []:
        print("nothing had changed since the pack was last recorded")
    print(f"the files of {root} are accepted as they are now (recorded in {record})")
    print("a tutor open now goes on checking against the old record until it starts again")
    return EXIT_OK
