"""Text from a pack or from learner code is data: no escape sequence reaches the terminal,
and no bracket is read as markup, in the app or on the command line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import BASICS, WILD_PACK
from tests.scripted import ScriptedRunner, failing
from tests.ui_support import make_app, reading, screen_text, settle, until
from tutor.core.catalog import load
from tutor.core.protocol import RunFinished, TestOutcome, Verdict, decode, encode
from tutor.core.words import printable
from tutor.runner import Runner
from tutor.ui.app import TutorApp
from tutor.ui.widgets.dialogs import Confirm

CLIPBOARD = "\x1b]52;c;aGkgdGhlcmU=\x07"  # OSC 52: writes the terminal's clipboard
TITLE = "\x1b]0;pwned\x07"  # OSC 0: sets the window title
CLEAR = "\x1b[2J"  # clears the screen
LINK = "\x1b]8;;https://example.invalid\x1b\\click\x1b]8;;\x1b\\"  # OSC 8: a hyperlink
HOSTILE = f"Bad [/oops] [link=https://example.invalid]x[/link]{CLIPBOARD}{TITLE}{LINK}{CLEAR}"


def test_control_characters_become_visible_data() -> None:
    assert printable(f"a{CLEAR}b") == "a\ufffd[2Jb"
    assert "\x1b" not in printable(CLIPBOARD + TITLE)
    assert "\x07" not in printable(TITLE)
    assert printable("csi \x9b2J bidi \u202eabc") == "csi \ufffd2J bidi \ufffdabc"
    assert printable("lines\nand\ttabs, é, 中") == "lines\nand\ttabs, é, 中"
    assert printable("windows\r\nline") == "windows\nline"


def test_every_event_text_is_made_printable_when_decoded() -> None:
    outcome = TestOutcome(run_id=1, name=f"test_{CLEAR}", message=f"wrong {CLIPBOARD}")
    finished = RunFinished(run_id=1, verdict=Verdict.FAILED, output=f"printed {TITLE}\n")
    for event in (outcome, finished):
        assert "\x1b" in encode(event).encode().decode("unicode_escape"), "sent as it was"
        texts = [v for v in asdict(decode(encode(event))).values() if isinstance(v, str)]
        assert texts
        assert not any("\x1b" in text or "\x07" in text for text in texts)


@pytest.fixture
def hostile_pack(tmp_path: Path) -> Path:
    """The wild pack, its first exercise titled and hinted with escapes and markup."""
    pack = tmp_path / "pack"
    shutil.copytree(WILD_PACK, pack)
    first = pack / "01-plain-import"
    (first / "README.md").write_text(f"# {HOSTILE}\n\nAdd two numbers. {CLEAR}\n")
    (first / "exercise.toml").write_text(
        f'[[hints]]\nid = "h"\ntests = ["test_add"]\ntext = {json.dumps(HOSTILE)}\n'
    )
    (first / "solution.py").write_text(
        f"print({CLIPBOARD!r})\n\n\ndef add(a, b):\n    raise AssertionError({CLEAR!r})\n"
    )
    picture = pack / "90-hostile-picture"
    shutil.copytree(BASICS, picture)
    (picture / "README.md").write_text(f"# {HOSTILE}\n")
    toml = picture / "exercise.toml"
    toml.write_text(re.sub(r"(?m)^title = .*$", "", toml.read_text()))
    probe = picture / "probe.py"
    probe.write_text(
        probe.read_text().replace(
            'TOKENS = ["The", "cat", "sat", "on", "the", "mat"]',
            f"TOKENS = [{CLIPBOARD!r}, {TITLE!r}, {LINK!r}, {CLEAR!r}, '[/x]', 'mat']",
        )
    )
    shutil.copy(picture / "solution.py", picture / "problem.py")
    return pack


def test_pack_text_is_data_in_the_catalog(hostile_pack: Path) -> None:
    exercise = load(hostile_pack).exercises[0]
    assert "\x1b" not in exercise.title
    assert "[/oops]" in exercise.title, "brackets are kept, as text"
    assert all("\x1b" not in hint.text for hint in exercise.hints)


@pytest.mark.slow
def test_the_command_line_prints_no_escape(hostile_pack: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "COLUMNS": "80"}
    workspace = tmp_path / "ws"
    common = ["--exercises", str(hostile_pack), "--workspace", str(workspace)]
    shutil.copy(hostile_pack / "01-plain-import" / "solution.py", workspace_problem(workspace))
    commands = (["list"], ["hint", "1"], ["check", "1"], ["show", "90"], ["list", "--json"])
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", "tutor", *command, *common],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode in (0, 1), done.stderr
        for stream in (done.stdout, done.stderr):
            assert "\x1b" not in stream, (command, stream)
            assert "\x07" not in stream, (command, stream)
        assert "Traceback" not in done.stderr
        if command[0] == "show":
            assert "[/x]" in done.stdout, "the picture's labels are shown, as text"
            assert "[/oops]" in done.stdout, "and so is the title"


def workspace_problem(workspace: Path) -> Path:
    path = workspace / "01-plain-import" / "problem.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_the_app_shows_markup_and_escapes_as_text(hostile_pack: Path, tmp_path: Path) -> None:
    """x asks about the exercise by its title, [/oops] and all: no MarkupError."""

    async def scenario() -> None:
        app = make_app(hostile_pack, tmp_path / "ws", ScriptedRunner(failing), watch=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert "\x1b" not in screen_text(app)
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, Confirm)
            assert "[/oops]" in screen_text(app)
            await pilot.press("n")
            await settle(pilot)
            assert app.is_running

    asyncio.run(scenario())


@pytest.mark.slow
def test_the_app_shows_what_the_worker_relays_as_text(hostile_pack: Path, tmp_path: Path) -> None:
    """The real worker's events, with escapes in a failure, the printed output and the
    picture's labels: every pane and the details view show them as data."""
    workspace = tmp_path / "ws"
    shutil.copy(hostile_pack / "01-plain-import" / "solution.py", workspace_problem(workspace))

    async def scenario() -> None:
        app = make_app(hostile_pack, workspace, Runner(timeout=30), watch=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            for key in ("01-plain-import", "90-hostile-picture"):
                while app.session.exercise.key != key:
                    await pilot.press("n")
                    await settle(pilot)
                await pilot.press("r")
                await until(pilot, partial(finished, app, key), limit=90)
                await until(pilot, partial(drawn, app, key), limit=30)
                await settle(pilot)
                shown = screen_text(app)
                assert not any(c in shown for c in "\x1b\x07\x9b"), key
                await pilot.press("enter")  # every test, with its whole message and output
                await settle(pilot)
                details = screen_text(app)
                assert not any(c in details for c in "\x1b\x07\x9b"), key
                if key == "01-plain-import":
                    assert "\ufffd[2J" in details, "the failure's escape is shown, as data"
                await pilot.press("escape")
                await settle(pilot)
            assert "[/x]" in reading(shown), "the picture's labels are there, as text"
            assert app.is_running

    def finished(app: TutorApp, key: str) -> bool:
        report = app.session.reports.get(key)
        return report is not None and report.finished is not None

    def drawn(app: TutorApp, key: str) -> bool:
        return key != "90-hostile-picture" or key in app.session.pictures

    asyncio.run(scenario())
