"""Make the README's screenshots: the real app, a real run, a wrong attempt at exercise 02.

- docs/screenshot.svg: 150x42, after the run (the hint revealed is in the hints pane);
- docs/screenshot-80x24.svg: 80x24, the screen right after the save, no key pressed.

Run with: uv run python docs/screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from textual.pilot import Pilot

from tutor.core.catalog import builtin_pack
from tutor.core.course import open_course
from tutor.ui.app import TutorApp

HERE = Path(__file__).parent


async def verdict(app: TutorApp, pilot: Pilot[int]) -> None:
    """Wait for the run's verdict and its picture."""
    while not ((report := app.session.report()) and report.done and app.session.picture()):
        await asyncio.sleep(0.2)
    await pilot.pause()


async def shoot(size: tuple[int, int], filename: str, hint: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.environ["HOME"] = folder  # the status line then reads ~/attn-tutor/...
        workspace = Path(folder) / "attn-tutor"
        course = open_course(None, workspace)
        basics = course.catalog.find("2")
        assert basics is not None
        mistake = builtin_pack() / basics.key / "mutants" / "softmax_over_queries.py"
        shutil.copy(mistake, course.problem(basics))
        course.progress.current = basics.key
        course.messages.clear()
        app = TutorApp(course, watch=False)
        async with app.run_test(size=size) as pilot:
            await verdict(app, pilot)
            await pilot.press("r")  # as a save would: the results come forward
            await pilot.pause(0.5)
            await verdict(app, pilot)
            if hint:
                await pilot.press("h", "escape")
                await pilot.pause()
            app.save_screenshot(filename=filename, path=str(HERE))


async def main() -> None:
    await shoot((150, 42), "screenshot.svg", hint=True)
    await shoot((80, 24), "screenshot-80x24.svg", hint=False)


asyncio.run(main())
