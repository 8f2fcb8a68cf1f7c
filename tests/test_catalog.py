"""Reading exercise packs: full, minimal (no exercise.toml) and malformed."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import WILD_PACK
from tutor.core.catalog import builtin_pack, load


def exercise(root: Path, name: str, toml: str | None = None, *, test: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(f"Intro text\n\n# Lesson {name}\n")
    (folder / "problem.py").write_text("x = 1\n")
    (folder / "test_it.py").write_text(test or "def test_one():\n    pass\n")
    if toml is not None:
        (folder / "exercise.toml").write_text(toml)
    return folder


def test_builtin_pack_loads_cleanly() -> None:
    catalog = load(builtin_pack())
    assert not catalog.problems, [str(p) for p in catalog.problems]
    basics = catalog.find("2")
    assert basics is not None
    assert basics.slug == "attention-basics"
    assert basics.entry == "SimpleAttention"
    assert {h.tier for h in basics.hints} == {1, 2, 3}
    assert len(basics.mutants) >= 4
    numbers = [e.number for e in catalog.exercises]
    assert numbers == sorted(numbers)


def test_find_accepts_number_padded_number_and_slug() -> None:
    catalog = load(builtin_pack())
    found = {catalog.find(key) for key in ("2", "02", "attention-basics", "02-attention-basics")}
    assert len(found) == 1
    assert None not in found
    assert catalog.find("99") is None
    assert catalog.find("nonsense") is None


def test_minimal_folders_take_the_title_from_the_readme() -> None:
    catalog = load(WILD_PACK)
    assert not catalog.problems
    assert [e.title for e in catalog.exercises] == [
        "Adding with a plain import",
        "Adding with a relative import",
        "Adding, testing solution.py",
    ]
    assert all(e.solution is not None for e in catalog.exercises)


def test_title_falls_back_to_the_folder_name(tmp_path: Path) -> None:
    folder = exercise(tmp_path, "07-no-heading")
    (folder / "README.md").write_text("no heading here\n")
    assert load(tmp_path).exercises[0].title == "No heading"


def test_hints_are_read_and_linked(tmp_path: Path) -> None:
    exercise(
        tmp_path,
        "01-a",
        '[[hints]]\nid = "n"\ntier = 1\ntests = ["test_one"]\ntext = "look"\n'
        '[[hints]]\nid = "c"\ntier = 2\ntext = "think"\n',
    )
    catalog = load(tmp_path)
    assert not catalog.problems
    found = catalog.exercises[0]
    assert [h.id for h in found.hints_for({"test_one"})] == ["n"]
    assert found.hints_for({"test_other"}) == []


def test_each_broken_exercise_gets_one_clear_line(tmp_path: Path) -> None:
    exercise(tmp_path, "01-good")
    exercise(tmp_path, "02-bad-toml", "title = \n")
    exercise(tmp_path, "03-bad-link", '[[hints]]\ntests = ["test_missing"]\ntext = "x"\n')
    exercise(tmp_path, "04-bad-tier", '[[hints]]\ntier = 7\ntext = "x"\n')
    exercise(tmp_path, "05-bad-mutant", '[[mutants]]\nfile = "gone.py"\nmisconception = "m"\n')
    exercise(tmp_path, "01-duplicate-number")
    (tmp_path / "no-number").mkdir()
    no_tests = exercise(tmp_path, "06-no-tests")
    (no_tests / "test_it.py").unlink()
    catalog = load(tmp_path)
    assert [e.key for e in catalog.exercises] == ["01-duplicate-number"]
    lines = {
        Path(p.path).name if p.path.is_dir() else p.path.parent.name: p.message
        for p in catalog.problems
    }
    assert "not valid TOML" in lines["02-bad-toml"]
    assert "test_missing" in lines["03-bad-link"]
    assert "tier" in lines["04-bad-tier"]
    assert "gone.py" in lines["05-bad-mutant"]
    assert "already used" in lines["01-good"]
    assert "number" in lines["no-number"]
    assert "test_" in lines["06-no-tests"]
    assert all("\n" not in str(p) for p in catalog.problems)


def test_missing_and_empty_packs_are_problems_not_errors(tmp_path: Path) -> None:
    missing = load(tmp_path / "absent")
    assert not missing.exercises
    assert "no such folder" in missing.problems[0].message
    empty = load(tmp_path)
    assert not empty.exercises
    assert "no exercise folders" in empty.problems[0].message
