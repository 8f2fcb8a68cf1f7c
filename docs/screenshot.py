"""Make docs/screenshot.svg: the real app, a real run, on a wrong attempt at exercise 02.

Run with: uv run python docs/screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from tutor.core.catalog import builtin_pack
from tutor.core.course import open_course
from tutor.ui.app import TutorApp

HERE = Path(__file__).parent


async def main() -> None:
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
        async with app.run_test(size=(150, 42)) as pilot:
            while not (app.reports.get(basics.key) and app.reports[basics.key].done):
                await asyncio.sleep(0.2)
            await pilot.press("h")
            await pilot.pause()
            app.save_screenshot(filename="screenshot.svg", path=str(HERE))


asyncio.run(main())
