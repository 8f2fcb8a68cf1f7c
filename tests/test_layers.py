"""What the built-in exercises may import: the kit, torch, pytest and the standard library.

The tutor's own layers are held by import-linter (``uv run lint-imports``, in CI); the
exercise folders are not importable packages, so their rule is checked here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tutor.core.catalog import builtin_pack

ALLOWED_ROOTS = {"torch", "pytest", "problem", "solution", "probe"}
ALLOWED_TUTOR = "tutor.kit"


def imported(path: Path) -> list[str]:
    """Every absolute module a file imports."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def allowed(module: str) -> bool:
    root = module.split(".")[0]
    if root == "tutor":
        return module == ALLOWED_TUTOR or module.startswith(ALLOWED_TUTOR + ".")
    return root in ALLOWED_ROOTS or root in sys.stdlib_module_names


EXERCISE_FILES = sorted(builtin_pack().rglob("*.py"))


@pytest.mark.parametrize("path", EXERCISE_FILES, ids=lambda p: str(p.relative_to(builtin_pack())))
def test_exercises_import_only_the_kit_torch_and_pytest(path: Path) -> None:
    wrong = [module for module in imported(path) if not allowed(module)]
    assert not wrong, f"{path.name} imports {', '.join(wrong)}; exercises use tutor.kit"


def test_the_rule_would_catch_a_worker_import(tmp_path: Path) -> None:
    bad = tmp_path / "test_bad.py"
    bad.write_text("from tutor.worker.probe import run_probe\nimport numpy\nimport torch\n")
    assert [m for m in imported(bad) if not allowed(m)] == ["tutor.worker.probe", "numpy"]
