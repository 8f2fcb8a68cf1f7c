"""The pack example in docs/EXERCISES.md is real: built from the doc, it verifies."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).parent.parent / "docs" / "EXERCISES.md"
FILE_BLOCK = re.compile(r"^`(01-add-scores/[\w/.]+)`:\n\n```\w*\n(.*?)^```", re.M | re.S)


@pytest.mark.slow
def test_the_documented_example_pack_verifies(tmp_path: Path) -> None:
    files = FILE_BLOCK.findall(DOC.read_text())
    assert len(files) == 6, [name for name, _ in files]
    for name, text in files:
        target = tmp_path / "pack" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "tutor", "verify", "--exercises", str(tmp_path / "pack")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1/1" in result.stdout
