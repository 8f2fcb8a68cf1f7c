"""The app driven headless with Pilot: switching, saves, superseded runs, hints, reset, solving."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console
from textual.containers import VerticalScroll
from textual.widgets import Static

from tests.conftest import WILD_PACK
from tests.scripted import ScriptedRunner, by_content, failing
from tests.ui_support import make_app, reading, screen_text, settle, until
from tutor.ui.app import TutorApp
from tutor.ui.widgets.dialogs import Confirm, TextView
from tutor.ui.widgets.results import EXPLAIN_KEY


def body(app: TutorApp, selector: str) -> str:
    """The plain text a Static shows."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


def progress_file(workspace: Path) -> dict[str, object]:
    data = json.loads((workspace / ".attn-tutor" / "progress.json").read_text())
    assert isinstance(data, dict)
    return data


def test_start_screen_shows_the_current_exercise(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.sub_title == "01 Adding with a plain import"
            assert "01-plain-import/problem.py" in body(app, "#status")
            assert "1 of 2 tests pass" in body(app, "#results-body")
            assert "A hint fits" not in body(app, "#hints-body")  # the wild pack has no hints

    asyncio.run(scenario())


def test_switching_exercises_with_keys_and_list(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
            assert app.exercise.key == "02-relative-import"
            await pilot.press("p")
            await settle(pilot)
            assert app.exercise.key == "01-plain-import"
            await pilot.press("l", "down", "down", "enter")
            await settle(pilot)
            assert app.exercise.key == "03-solution-import"
            assert "03-solution-import/problem.py" in body(app, "#status")
        assert progress_file(tmp_path / "ws")["current"] == "03-solution-import"

    asyncio.run(scenario())


def test_resumes_at_the_last_exercise(tmp_path: Path) -> None:
    async def scenario() -> None:
        first = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        async with first.run_test() as pilot:
            await pilot.press("n")
            await settle(pilot)
        again = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        async with again.run_test() as pilot:
            assert again.exercise.key == "02-relative-import"

    asyncio.run(scenario())


@pytest.mark.parametrize("how", ["in place", "atomic rename"])
def test_a_save_produces_a_verdict_and_the_solved_moment(tmp_path: Path, how: str) -> None:
    async def scenario() -> None:
        runner = ScriptedRunner(by_content)
        app = make_app(WILD_PACK, tmp_path / "ws", runner)
        problem = tmp_path / "ws" / "01-plain-import" / "problem.py"
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "1 of 2" in body(app, "#results-body"))
            solved = "def add(a, b):\n    return a + b\n"
            if how == "in place":
                problem.write_text(solved)
            else:
                (problem.parent / ".problem.py.swp").write_text(solved)
                os.replace(problem.parent / ".problem.py.swp", problem)
            await until(pilot, lambda: "all 2 tests pass" in body(app, "#results-body"))
            await settle(pilot)
            assert any("solved" in n.message for n in app._notifications)
            assert app.course.progress.of(app.exercise.key).solved
            count = len(runner.started)
            problem.write_text(solved)  # the same content again: nothing to re-run
            await settle(pilot, 0.6)
            assert len(runner.started) == count
        entry = progress_file(tmp_path / "ws")["exercises"]
        assert isinstance(entry, dict)
        assert entry["01-plain-import"]["first_solved"]

    asyncio.run(scenario())


def test_a_save_during_a_run_supersedes_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        runner = ScriptedRunner(by_content, delay=0.4)
        app = make_app(WILD_PACK, tmp_path / "ws", runner)
        problem = tmp_path / "ws" / "01-plain-import" / "problem.py"
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "running" in body(app, "#results-body"))
            problem.write_text("def add(a, b):\n    return a + b\n")
            await until(pilot, lambda: "all 2 tests pass" in body(app, "#results-body"))
            await settle(pilot)
            assert runner.cancelled >= 1, "the older run was cancelled"
            assert "1 of 2" not in body(app, "#results-body")

    asyncio.run(scenario())


def test_saving_another_exercise_updates_its_status(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(by_content))
        other = tmp_path / "ws" / "03-solution-import" / "problem.py"
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            other.write_text("def add(a, b):\n    return a + b\n")
            await until(
                pilot, lambda: app.course.catalog.exercises[2].key in app.course.progress.solved
            )
            assert app.exercise.key == "01-plain-import"

    asyncio.run(scenario())


def test_hints_are_revealed_and_remembered(tmp_path: Path) -> None:
    async def scenario() -> None:
        from tutor.core.catalog import builtin_pack

        pack = builtin_pack()
        app = make_app(pack, tmp_path / "ws", ScriptedRunner(failing))
        app.course.progress.current = "02-attention-basics"
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            if app.exercise.key != "02-attention-basics":
                target = app.course.catalog.find("2")
                assert target is not None
                app.session.open(target)
                await settle(pilot)
            for _ in range(2):
                await pilot.press("h")
                await settle(pilot)
                assert isinstance(app.screen, TextView), "h shows the hint whole"
                await pilot.press("escape")
                await settle(pilot)
            text = body(app, "#hints-body")
            assert "1. [nudge]" in text
            assert "2. [" in text
        seen = progress_file(tmp_path / "ws")["exercises"]
        assert isinstance(seen, dict)
        assert len(seen["02-attention-basics"]["hints_seen"]) == 2

    asyncio.run(scenario())


def test_reset_asks_and_keeps_a_backup(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        problem = tmp_path / "ws" / "01-plain-import" / "problem.py"
        problem.write_text("my precious attempt\n")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            await pilot.press("n")
            await settle(pilot)
            assert problem.read_text() == "my precious attempt\n"
            await pilot.press("x", "y")
            await settle(pilot)
        assert problem.read_text() == (WILD_PACK / "01-plain-import" / "problem.py").read_text()
        backups = list((tmp_path / "ws" / ".attn-tutor" / "backups" / "01-plain-import").iterdir())
        assert [b.read_text() for b in backups] == ["my precious attempt\n"]

    asyncio.run(scenario())


def test_solution_needs_confirmation_before_solving(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("s")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            await pilot.press("n")
            await settle(pilot)
            assert not isinstance(app.screen, Confirm)

    asyncio.run(scenario())


def test_narrow_terminal_stacks_the_panes(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.screen.has_class("-narrow")
            # The start-up run leaves the lesson in front; a run the learner asks for
            # brings the results; v brings the lesson back.
            assert app.query_one("#lesson").display
            assert not app.query_one("#side").display
            await pilot.press("r")
            await settle(pilot)
            assert app.query_one("#side").display
            await pilot.press("v")
            await settle(pilot)
            assert app.query_one("#lesson").display
            assert not app.query_one("#side").display

    asyncio.run(scenario())


def test_the_app_never_imports_torch() -> None:
    import subprocess
    import sys

    code = "import sys, tutor.ui.app, tutor.cli, tutor.runner; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_actions_are_in_the_command_palette(tmp_path: Path) -> None:
    async def scenario() -> None:
        from tutor.core.catalog import builtin_pack

        app = make_app(builtin_pack(), tmp_path / "ws", ScriptedRunner(failing))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"Next exercise")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await settle(pilot)
            assert app.exercise.number == 2

    asyncio.run(scenario())


def test_the_attention_pane_shows_the_picture(tmp_path: Path) -> None:
    from tutor.core.catalog import builtin_pack
    from tutor.core.protocol import Event, ProbeResult

    probe = ProbeResult(
        run_id=1,
        queries=["The", "cat"],
        keys=["The", "cat"],
        learner=[[[0.5, 0.5], [0.5, 0.5]], [[1.0, 0.0], [0.0, 1.0]]],
        reference=[[[1.0, 0.0], [0.3, 0.7]], [[1.0, 0.0], [0.0, 1.0]]],
        diagnosis="Your weights match a known mistake: a test mistake.",
    )

    def with_picture(source: str) -> list[Event]:
        events = failing(source)
        return [*events, probe]  # the verdict first, the picture after it

    async def scenario() -> None:
        app = make_app(builtin_pack(), tmp_path / "ws", ScriptedRunner(with_picture))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
            assert app.query_one("#attention").display
            text = body(app, "#attention-body")
            assert "yours (head 1 of 2)" in text
            assert "a test mistake" in text
            await pilot.press("right_square_bracket")
            await pilot.pause()
            assert "head 2 of 2" in body(app, "#attention-body")
            await pilot.press("m")
            await pilot.pause()
            assert "1.0" in body(app, "#attention-body")

    asyncio.run(scenario())


def test_all_heads_overview_toggles_and_follows_the_head(tmp_path: Path) -> None:
    from rich.cells import cell_len

    from tutor.core.catalog import builtin_pack
    from tutor.core.protocol import Event, ProbeResult
    from tutor.ui.widgets.attention import AttentionPane

    tokens = ["The", "cat", "sat", "on"]
    causal = [[1.0 / (i + 1) if j <= i else 0.0 for j in range(4)] for i in range(4)]
    ahead = [row[:] for row in causal]
    ahead[1] = [0.4, 0.4, 0.2, 0.0]  # head 2 looks one token ahead
    probe = ProbeResult(
        run_id=1,
        queries=tokens,
        keys=tokens,
        learner=[causal, ahead, causal],
        reference=[causal, causal, causal],
        allowed=[[j <= i for j in range(4)] for i in range(4)],
    )

    def with_picture(source: str) -> list[Event]:
        return [*failing(source), probe]

    async def scenario() -> None:
        for size in [(160, 48), (110, 40)]:  # the pane's widest and narrowest side-by-side
            app = make_app(builtin_pack(), tmp_path / "ws", ScriptedRunner(with_picture))
            async with app.run_test(size=size) as pilot:
                await settle(pilot)
                if app.exercise.number == 1:
                    await pilot.press("n")
                    await settle(pilot)
                text = body(app, "#attention-body")
                assert "yours (head 1 of 3)" in text
                assert "a all heads" in text
                await pilot.press("a")
                await pilot.pause()
                text = body(app, "#attention-body")
                assert "yours, all 3 heads" in text
                assert "head 2 !×" in text  # noqa: RUF001 - the leak marker
                assert "a one head" in text
                pane = app.query_one(AttentionPane)
                width = pane.scrollable_content_region.width
                assert max(cell_len(line) for line in text.rstrip().split("\n")) <= width
                await pilot.press("right_square_bracket")
                await pilot.pause()
                assert pane.head == 1
                assert "yours, all 3 heads" in body(app, "#attention-body")
                await pilot.press("a")
                await pilot.pause()
                assert "yours (head 2 of 3)" in body(app, "#attention-body")
                await pilot.press("ctrl+p")  # the same switch, by name
                await pilot.pause()
                await pilot.press(*"All heads")
                await pilot.pause(0.3)
                await pilot.press("enter")
                await pilot.pause()
                assert "yours, all 3 heads" in body(app, "#attention-body")

    asyncio.run(scenario())


def test_all_heads_on_a_single_head_picture_says_so(tmp_path: Path) -> None:
    from tutor.core.catalog import builtin_pack
    from tutor.core.protocol import Event, ProbeResult

    probe = ProbeResult(
        run_id=1, queries=["The"], keys=["The"], learner=[[[1.0]]], reference=[[[1.0]]]
    )

    def with_picture(source: str) -> list[Event]:
        return [*failing(source), probe]

    async def scenario() -> None:
        app = make_app(builtin_pack(), tmp_path / "ws", ScriptedRunner(with_picture))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
            await pilot.press("a")
            await pilot.pause()
            assert any("single head" in n.message for n in app._notifications)
            assert "all heads" not in body(app, "#attention-body")
            app.clear_notifications()
            await pilot.press("right_square_bracket")
            await pilot.pause()
            assert [n.message for n in app._notifications] == ["This picture has a single head."]

    asyncio.run(scenario())


def test_the_attention_pane_is_absent_without_a_probe(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            assert not app.query_one("#attention").display

    asyncio.run(scenario())


def test_a_diagnosed_mistake_offers_its_hint_first(tmp_path: Path) -> None:
    from tutor.core.catalog import builtin_pack
    from tutor.core.protocol import Event, ProbeResult

    probe = ProbeResult(
        run_id=1,
        queries=["The"],
        keys=["The"],
        learner=[[[1.0]]],
        reference=[[[1.0]]],
        diagnosis="Your weights match a known mistake: softmax over the queries.",
        diagnosis_hint="softmax-axis",
    )

    def diagnosed(source: str) -> list[Event]:
        events = failing(source)
        return [*events, probe]  # the verdict first, the picture after it

    async def scenario() -> None:
        app = make_app(builtin_pack(), tmp_path / "ws", ScriptedRunner(diagnosed))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
            assert "fits the mistake your weights show" in body(app, "#results-call")
            await pilot.press("h")
            await settle(pilot)
            assert app.course.progress.of("02-attention-basics").hints_seen == ["softmax-axis"]

    asyncio.run(scenario())


def test_enter_shows_every_test_whole_and_escape_returns(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("r")
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, TextView)
            shown = reading(screen_text(app))
            assert "✓ test_add" in shown
            assert "✗ test_add_negative problem.py:2 add(-2, 1) returned 3, expected -1" in shown
            await pilot.press("escape")
            await settle(pilot)
            assert not isinstance(app.screen, TextView)

    asyncio.run(scenario())


def test_a_new_run_starts_the_results_and_the_picture_at_their_top(tmp_path: Path) -> None:
    from tests.test_snapshots import heads_probe
    from tutor.core.catalog import builtin_pack
    from tutor.core.protocol import Event

    def with_picture(source: str) -> list[Event]:
        return [*failing(source), heads_probe()]

    async def scenario() -> None:
        app = make_app(builtin_pack(), tmp_path / "ws", ScriptedRunner(with_picture))
        app.course.progress.current = "02-attention-basics"
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("r")
            await settle(pilot)
            attention = app.query_one("#attention", VerticalScroll)
            attention.scroll_end(animate=False, immediate=True)
            await pilot.pause()
            assert attention.scroll_y > 0, "the picture is taller than its pane here"
            await pilot.press("r")
            await settle(pilot)
            assert attention.scroll_y == 0
            assert "yours (head 1 of 3)" in reading(screen_text(app)), "the matrix's top is back"

    asyncio.run(scenario())


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_no_lesson_code_line_runs_off_its_pane(tmp_path: Path, size: tuple[int, int]) -> None:
    """Every code block of every lesson shows each line whole (wrapped), none cut at the edge."""
    from textual.widgets._markdown import MarkdownFence

    from tutor.core.catalog import builtin_pack

    async def scenario() -> None:
        app = make_app(builtin_pack(), tmp_path / "ws", ScriptedRunner(failing), watch=False)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            for _ in app.course.catalog.exercises:
                fences = list(app.query(MarkdownFence))
                assert fences, f"{app.exercise.key}'s lesson has code blocks"
                for fence in fences:
                    assert fence.max_scroll_x == 0, (app.exercise.key, fence.code[:60])
                await pilot.press("n")
                await settle(pilot)

    asyncio.run(scenario())


def test_e_works_through_the_example_at_80x24(tmp_path: Path) -> None:
    from tests.builders import unscaled
    from tutor.core.catalog import builtin_pack
    from tutor.core.protocol import Event, RunFinished, TestOutcome, Verdict

    def differs(_: str) -> list[Event]:
        return [
            TestOutcome(run_id=1, name="test_shapes"),
            RunFinished(run_id=1, verdict=Verdict.DIFFERS, passed=1, total=1),
            unscaled(),  # after the verdict, as the worker sends it
        ]

    async def scenario() -> None:
        app = make_app(builtin_pack(), tmp_path / "ws", ScriptedRunner(differs))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("r")
            await settle(pilot)
            assert EXPLAIN_KEY in body(app, "#results-body")
            await pilot.press("e")
            await settle(pilot)
            assert isinstance(app.screen, TextView)
            shown = screen_text(app)
            assert "SimpleAttention(n_embd=2)(x)" in shown
            # The finding comes first, on screen before any matrix.
            assert "too sharp" in reading(shown)
            assert "scaled: scores / sqrt(d)  ← first difference" in shown
            assert "(no such step in your code)" in shown
            assert all(len(line.rstrip()) <= 80 for line in shown.splitlines())
            # Longer than the screen: it scrolls, down to the last stage.
            frame = app.screen.query_one("#text-frame", VerticalScroll)
            assert frame.max_scroll_y > 0
            await pilot.press("end")
            await settle(pilot)
            assert "your number differs from the reference's" in screen_text(app)
            await pilot.press("q")
            await settle(pilot)
            assert not isinstance(app.screen, TextView)
            await pilot.press("e")  # the key that opens it closes it: never two views
            await settle(pilot)
            await pilot.press("e")
            await settle(pilot)
            assert len(app.screen_stack) == 1

    asyncio.run(scenario())


def test_e_without_an_example_says_why_in_one_line(tmp_path: Path) -> None:
    from tutor.core.catalog import builtin_pack
    from tutor.core.explain import AGREE

    async def scenario() -> None:
        app = make_app(builtin_pack(), tmp_path / "ws", ScriptedRunner(by_content))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.course.problem(app.exercise).write_text("def add(a, b):\n    return a + b\n")
            await pilot.press("r")
            await settle(pilot)
            app.clear_notifications()
            await pilot.press("e")
            await pilot.pause()
            assert not isinstance(app.screen, TextView)
            assert [n.message for n in app._notifications] == [f"{AGREE[0].upper()}{AGREE[1:]}."]
            assert EXPLAIN_KEY not in body(app, "#results-body")

    asyncio.run(scenario())
