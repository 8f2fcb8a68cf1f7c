"""Find exercises in a pack folder and read their metadata.

A pack is a folder of exercise folders, ordered by their number prefix
(``02-attention-basics``). An exercise folder holds ``exercise.toml`` (optional),
``README.md`` (the lesson), ``problem.py`` (the skeleton), ``test_*.py`` (the
suite), ``solution.py`` (the reference, optional) and ``mutants/`` (optional).
A ``pack.toml`` at the pack's root (optional) sets limits for all its exercises.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from tutor.core.protocol import MutantSpec
from tutor.core.words import printable

T = TypeVar("T")

NUMBERED = re.compile(r"^(\d+)[-_ ]?(.*)$")
# The names of an exercise folder's parts, the same in every pack.
PROBLEM_FILE = "problem.py"
SOLUTION_FILE = "solution.py"
PROBE_FILE = "probe.py"
LESSON_FILE = "README.md"
METADATA_FILE = "exercise.toml"
PACK_FILE = "pack.toml"
MUTANTS_DIR = "mutants"
# What a run never copies beside the tests: the learner's file takes the skeleton's place.
PRISTINE_SKIP = frozenset({PROBLEM_FILE, SOLUTION_FILE, METADATA_FILE, LESSON_FILE})
# What no run reads: the probe reads the solution and the mutants from the pack itself.
UNREAD = PRISTINE_SKIP - {SOLUTION_FILE}
NOT_EXERCISES = frozenset({"__pycache__", MUTANTS_DIR})
DEFAULT_TIMEOUT = 10.0  # seconds
DEFAULT_MEMORY_MB = 2048


@dataclass(frozen=True)
class Hint:
    """One hint: its tier (1 nudge, 2 concept, 3 near-code) and the tests it helps with."""

    id: str
    tier: int
    text: str
    tests: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", printable(self.text))  # pack text: shown as data


@dataclass(frozen=True)
class Mutant:
    """A known wrong solution and the misconception it shows."""

    path: Path
    misconception: str
    hint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "misconception", printable(self.misconception))


@dataclass(frozen=True)
class Limit:
    """A limit that a pack file sets, and that file as a learner would name it."""

    value: float
    file: str  # "pack.toml", "07-heavy/exercise.toml"


@dataclass(frozen=True)
class PackLimits:
    """The limits a pack's ``pack.toml`` sets for every exercise (``None``: not set)."""

    timeout: Limit | None = None
    memory: Limit | None = None


@dataclass(frozen=True)
class RunLimits:
    """What one run may use, and how the learner raises each limit."""

    timeout: float
    timeout_setting: str
    memory_mb: int
    memory_setting: str


@dataclass(frozen=True)
class Exercise:
    """One exercise folder, read and checked."""

    path: Path
    number: int
    slug: str
    title: str
    difficulty: int | None = None
    minutes: int | None = None
    entry: str | None = None
    hints: tuple[Hint, ...] = ()
    mutants: tuple[Mutant, ...] = ()
    probe: dict[str, object] = field(default_factory=dict, hash=False, compare=False)
    timeout: Limit | None = None  # from exercise.toml, else pack.toml
    memory: Limit | None = None  # in MB, likewise
    differential: bool = True  # compare with the reference after the tests
    tokens: tuple[str, ...] = ()  # the pack's labels for the picture's tokens

    def __post_init__(self) -> None:
        # Shown in every view and on the command line: pack text, never terminal control.
        object.__setattr__(self, "title", printable(self.title))
        object.__setattr__(self, "slug", printable(self.slug))

    @property
    def key(self) -> str:
        """The folder name, which is also the exercise's folder in the workspace."""
        return self.path.name

    @property
    def label(self) -> str:
        return f"{self.number:02d} {self.title}"

    @property
    def lesson(self) -> Path:
        return self.path / LESSON_FILE

    @property
    def skeleton(self) -> Path:
        return self.path / PROBLEM_FILE

    @property
    def solution(self) -> Path | None:
        candidate = self.path / SOLUTION_FILE
        return candidate if candidate.is_file() else None

    @property
    def has_probe(self) -> bool:
        """Whether a probe draws this exercise's attention weights."""
        return (self.path / PROBE_FILE).is_file()

    @property
    def has_picture(self) -> bool:
        """Whether a run may draw attention weights: by the probe, or else by replaying the
        tests' calls on the reference (when it computes a softmax)."""
        return self.has_probe or (self.solution is not None and self.differential)

    @property
    def mutant_specs(self) -> tuple[MutantSpec, ...]:
        """The mutants as a run request carries them to the probe."""
        return tuple(
            MutantSpec(path=str(m.path), misconception=m.misconception, hint=m.hint or "")
            for m in self.mutants
        )

    def limits(self, timeout: float | None = None, memory_mb: int | None = None) -> RunLimits:
        """The run's limits: what the learner chose on the command line wins, then
        exercise.toml, then pack.toml, then the defaults."""
        if timeout is not None:
            time, time_setting = timeout, "--timeout"
        elif self.timeout is not None:
            time, time_setting = self.timeout.value, f"timeout in {self.timeout.file}"
        else:
            time, time_setting = DEFAULT_TIMEOUT, f"--timeout (or timeout in {METADATA_FILE})"
        if memory_mb is not None:
            memory, memory_setting = memory_mb, "the memory limit"
        elif self.memory is not None:
            memory, memory_setting = int(self.memory.value), f"memory in {self.memory.file}"
        else:
            memory, memory_setting = DEFAULT_MEMORY_MB, f"memory in {METADATA_FILE}"
        return RunLimits(time, time_setting, memory, memory_setting)

    def hints_for(self, tests: set[str]) -> list[Hint]:
        """Hints linked to any of ``tests`` (test function names), lowest tier first."""
        return sorted(
            (hint for hint in self.hints if tests & set(hint.tests)), key=lambda h: h.tier
        )


@dataclass(frozen=True)
class PackProblem:
    """Something wrong with a pack, said in one line for the person who wrote it."""

    path: Path
    message: str

    def __str__(self) -> str:
        return printable(f"{self.path}: {self.message}")  # a folder name is pack text too


@dataclass
class Catalog:
    """The exercises of one pack, in order, and what was wrong with the rest."""

    root: Path
    exercises: list[Exercise] = field(default_factory=list)
    problems: list[PackProblem] = field(default_factory=list)

    def find(self, key: str) -> Exercise | None:
        """Look an exercise up by number (``2``, ``02``), slug, id or folder name."""
        wanted = key.strip().lower()
        for exercise in self.exercises:
            names = {exercise.key.lower(), exercise.slug.lower()}
            if wanted in names or (wanted.isdigit() and int(wanted) == exercise.number):
                return exercise
        return None

    def index(self, exercise: Exercise) -> int:
        return next(i for i, e in enumerate(self.exercises) if e.key == exercise.key)

    def skipped(self, key: str) -> PackProblem | None:
        """The problem that kept exercise ``key`` (number or folder name) out of the pack."""
        wanted = key.strip().lower()
        for problem in self.problems:
            folder = problem.path if problem.path.parent == self.root else problem.path.parent
            match = NUMBERED.match(folder.name)
            if folder.parent != self.root or not match:
                continue
            names = {folder.name.lower(), match.group(2).lower()}
            if wanted in names or (wanted.isdigit() and int(wanted) == int(match.group(1))):
                return problem
        return None


def builtin_pack() -> Path:
    """The exercises shipped with attn-tutor (inside the wheel, or beside the source tree)."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "exercises"
    return installed if installed.is_dir() else package.parent / "exercises"


def exercise_folders(root: Path) -> list[Path]:
    """The folders of a pack that may be exercises, loadable or not, by name."""
    return sorted(
        path
        for path in root.iterdir()
        if path.is_dir() and not path.name.startswith(".") and path.name not in NOT_EXERCISES
    )


def load(root: Path) -> Catalog:
    """Read every exercise folder under ``root``; problems are collected, never raised."""
    catalog = Catalog(root=root)
    if not root.exists():
        catalog.problems.append(PackProblem(root, "no such folder; check the --exercises path"))
        return catalog
    if not root.is_dir():
        catalog.problems.append(PackProblem(root, "is a file; --exercises needs a folder"))
        return catalog
    try:
        folders = exercise_folders(root)
    except OSError as error:
        catalog.problems.append(
            PackProblem(root, f"cannot be read ({error.strerror}); check its permissions")
        )
        return catalog
    pack_limits = read_pack_limits(root, catalog.problems)
    seen: dict[int, Path] = {}
    for folder in folders:
        result = read_exercise(folder, pack_limits)
        if isinstance(result, PackProblem):
            catalog.problems.append(result)
            continue
        if result.number in seen:
            catalog.problems.append(
                PackProblem(
                    folder,
                    f"number {result.number:02d} is already used by {seen[result.number].name}, "
                    "which was loaded instead; give one of the two folders another number",
                )
            )
            continue
        seen[result.number] = folder
        catalog.exercises.append(result)
    catalog.exercises.sort(key=lambda e: e.number)
    if not catalog.exercises and not catalog.problems:
        if (root / PROBLEM_FILE).is_file() or any(root.glob("test_*.py")):
            message = (
                "is a single exercise; point --exercises at the folder that holds it "
                f"({root.resolve().parent})"
            )
        else:
            message = (
                "holds no exercise folders; a pack is a folder of NN-name/ folders, "
                "each with README.md, problem.py and test_*.py"
            )
        catalog.problems.append(PackProblem(root, message))
    return catalog


REQUIRED = {
    PROBLEM_FILE: "the skeleton the learner starts from",
    LESSON_FILE: "the lesson (its first # heading is the title)",
}


def read_pack_limits(root: Path, problems: list[PackProblem]) -> PackLimits:
    """The limits of the pack's ``pack.toml``; a bad one is reported in ``problems`` and
    costs only its limits, never the pack."""
    path = root / PACK_FILE
    if not path.is_file():
        return PackLimits()
    text = read_utf8(path)
    if isinstance(text, PackProblem):
        problems.append(text)
        return PackLimits()
    try:
        data = tomllib.loads(text)
        return PackLimits(
            timeout=read_limit(data, TIMEOUT_KEY, PACK_FILE),
            memory=read_limit(data, MEMORY_KEY, PACK_FILE),
        )
    except tomllib.TOMLDecodeError as error:
        problems.append(PackProblem(path, f"{toml_message(error)}; the defaults apply"))
    except MetadataError as error:
        line = line_of(text, error.pattern)
        where = f"line {line}: " if line else ""
        problems.append(PackProblem(path, f"{where}{error}; the defaults apply"))
    return PackLimits()


TIMEOUT_KEY = "timeout"
MEMORY_KEY = "memory"


def read_limit(data: dict[str, object], name: str, file: str) -> Limit | None:
    """A positive limit: ``timeout`` in seconds (any number), ``memory`` in MB (whole)."""
    if name not in data:
        return None
    value = data[name]
    whole = name == MEMORY_KEY
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        what, example = (
            ("a positive whole number of MB", "4096")
            if whole
            else (
                "a positive number of seconds",
                "30",
            )
        )
        written = json.dumps(value, ensure_ascii=False, default=str)
        raise MetadataError(
            f"{name} = {written} should be {what}, like {name} = {example}", key_line(name)
        )
    return Limit(value=float(value), file=file)


def read_exercise(folder: Path, pack: PackLimits | None = None) -> Exercise | PackProblem:
    """Read one exercise folder, or say in one line what is wrong with it.

    ``pack`` holds the limits of the pack's ``pack.toml``, for what exercise.toml leaves."""
    pack = pack or PackLimits()
    match = NUMBERED.match(folder.name)
    if not match:
        return PackProblem(folder, "folder name should start with a number, like 03-scaling")
    number, slug = int(match.group(1)), match.group(2) or folder.name
    for required, what in REQUIRED.items():
        if not (folder / required).is_file():
            return PackProblem(folder, f"has no {required}; add {what}")
    if not any(folder.glob("test_*.py")):
        return PackProblem(folder, "has no test_*.py; add the tests that check problem.py")
    escaped = escaping_part(folder)
    if escaped is not None:
        return escaped
    lesson = read_utf8(folder / LESSON_FILE)
    if isinstance(lesson, PackProblem):
        return lesson
    title = heading(lesson) or slug.replace("-", " ").capitalize()
    toml_path = folder / METADATA_FILE
    if not toml_path.is_file():
        return Exercise(
            path=folder,
            number=number,
            slug=slug,
            title=title,
            timeout=pack.timeout,
            memory=pack.memory,
        )
    text = read_utf8(toml_path)
    if isinstance(text, PackProblem):
        return text
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return PackProblem(toml_path, toml_message(error))
    try:
        found = exercise_from_toml(folder, number, slug, title, data)
    except MetadataError as error:
        line = line_of(text, error.pattern)
        return PackProblem(toml_path, f"line {line}: {error}" if line else str(error))
    return replace(
        found,
        timeout=found.timeout or pack.timeout,
        memory=found.memory or pack.memory,
    )


# The parts of an exercise folder that a run reads, with what each is for.
PARTS = {
    LESSON_FILE: "the lesson",
    PROBLEM_FILE: "the skeleton",
    SOLUTION_FILE: "the reference solution",
    PROBE_FILE: "the probe",
    METADATA_FILE: "the metadata",
    MUTANTS_DIR: "the mutants folder",
}


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, links followed, is within ``folder``."""
    return path.resolve().is_relative_to(folder.resolve())


def escaping_part(folder: Path) -> PackProblem | None:
    """A part of the exercise that links out of its folder: a pack reads only its own files,
    never a file of the learner's, or of another user, that a link points at."""
    parts = [(folder / name, what) for name, what in PARTS.items()]
    parts += [(path, "a test file") for path in sorted(folder.glob("test_*.py"))]
    for path, what in parts:
        if path.is_symlink() and not inside(path, folder):
            return PackProblem(
                path,
                f"({what}) links to {path.resolve()}, outside the exercise folder; "
                "put the file itself in the folder",
            )
    return None


def read_utf8(path: Path) -> str | PackProblem:
    """The file's text, or a one-line problem when it cannot be read as UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return PackProblem(path, f"cannot be read ({error.strerror}); check its permissions")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return PackProblem(
            path,
            f"line {line}: byte 0x{data[error.start]:02x} is not UTF-8; "
            "save the file with the UTF-8 encoding",
        )


TOML_AT = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$")


def toml_message(error: tomllib.TOMLDecodeError) -> str:
    match = TOML_AT.match(str(error))
    if match is None:
        return f"not valid TOML ({error}); correct its syntax"
    reason, line, column = match.groups()
    return f"line {line}, column {column}: not valid TOML ({reason}); correct the syntax there"


def line_of(text: str, pattern: str | None) -> int | None:
    """The number of the first line of ``text`` that matches ``pattern``."""
    if pattern is None:
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(pattern, line):
            return number
    return None


def key_line(name: str) -> str:
    """A pattern for the line that sets ``name``."""
    return rf"^\s*{re.escape(name)}\s*="


def quoted(value: str) -> str:
    """A pattern for ``value`` written as a TOML string."""
    return rf"[\"']{re.escape(value)}[\"']"


class MetadataError(ValueError):
    """A field of exercise.toml has the wrong type or points nowhere."""

    def __init__(self, message: str, pattern: str | None = None) -> None:
        super().__init__(message)
        self.pattern = pattern  # finds the line to name, when there is one


def exercise_from_toml(
    folder: Path, number: int, slug: str, title: str, data: dict[str, object]
) -> Exercise:
    declared = typed(data, "number", int, number)
    if declared != number:
        raise MetadataError(
            f"number = {declared} does not match the folder name {folder.name}; "
            "the folder name sets the number, so make them agree or remove number",
            key_line("number"),
        )
    test_names = defined_tests(folder)
    hints = tuple(read_hint(i, raw, test_names) for i, raw in enumerate(table_list(data, "hints")))
    hint_ids = {hint.id for hint in hints}
    mutants = tuple(read_mutant(folder, raw, hint_ids) for raw in table_list(data, "mutants"))
    probe = data.get("probe", {})
    if not isinstance(probe, dict):
        raise MetadataError("[probe] should be a table")
    differential = data.get("differential", True)
    if not isinstance(differential, bool):
        written = json.dumps(differential, ensure_ascii=False, default=str)
        raise MetadataError(
            f"differential = {written} should be true or false, like differential = false",
            key_line("differential"),
        )
    tokens = data.get("tokens", [])
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise MetadataError(
            'tokens should be a list of words in quotes, like tokens = ["The", "cat", "sat"]',
            key_line("tokens"),
        )
    own = f"{folder.name}/{METADATA_FILE}"
    return Exercise(
        path=folder,
        number=number,
        slug=str(data.get("id", slug)),
        title=typed(data, "title", str, title),
        difficulty=typed(data, "difficulty", int, None),
        minutes=typed(data, "minutes", int, None),
        entry=typed(data, "entry", str, None),
        hints=hints,
        mutants=mutants,
        probe=probe,
        timeout=read_limit(data, TIMEOUT_KEY, own),
        memory=read_limit(data, MEMORY_KEY, own),
        differential=differential,
        tokens=tuple(printable(t) for t in tokens),
    )


KINDS = {int: ("a whole number", "2"), str: ("text in quotes", '"..."')}


def typed(data: dict[str, object], name: str, kind: type[T], default: T) -> T:
    value = data.get(name, default)
    if value is not default and (
        not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    ):
        what, example = KINDS.get(kind, (f"a {kind.__name__}", "..."))
        if kind is int and isinstance(default, int):
            example = json.dumps(default, ensure_ascii=False)
        written = json.dumps(value, ensure_ascii=False, default=str)
        raise MetadataError(
            f"{name} = {written} should be {what}, like {name} = {example}", key_line(name)
        )
    return value


def table_list(data: dict[str, object], name: str) -> list[dict[str, object]]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MetadataError(f"{name} should be written as [[{name}]] tables", key_line(name))
    return value


def read_hint(position: int, raw: dict[str, object], test_names: set[str]) -> Hint:
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise MetadataError(f"hint {position + 1} has no text")
    tier = raw.get("tier", 1)
    if not isinstance(tier, int) or not 1 <= tier <= 3:
        raise MetadataError(f"hint {position + 1}: tier should be 1, 2 or 3, not {tier!r}")
    tests = raw.get("tests", [])
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise MetadataError(f"hint {position + 1}: tests should be a list of test names")
    missing = [name for name in tests if name not in test_names]
    if missing:
        raise MetadataError(
            f"hint {position + 1} links to {', '.join(missing)}, which no test_*.py defines; "
            "correct the name in its tests list, or write that test",
            quoted(missing[0]),
        )
    hint_id = raw.get("id", f"hint-{position + 1}")
    return Hint(id=str(hint_id), tier=tier, text=" ".join(text.split()), tests=tuple(tests))


def read_mutant(folder: Path, raw: dict[str, object], hint_ids: set[str]) -> Mutant:
    file = raw.get("file")
    if not isinstance(file, str):
        raise MetadataError('every [[mutants]] table needs file = "name.py"')
    path = folder / MUTANTS_DIR / file
    if not inside(path, folder / MUTANTS_DIR):
        raise MetadataError(
            f"mutant file = {json.dumps(file)} points outside mutants/; "
            "name a file inside the exercise's mutants/ folder",
            quoted(file),
        )
    if not path.is_file():
        raise MetadataError(
            f"mutant {file} not found in mutants/; add it or correct the file name", quoted(file)
        )
    misconception = raw.get("misconception")
    if not isinstance(misconception, str) or not misconception:
        raise MetadataError(f"mutant {file} needs a misconception")
    hint = raw.get("hint")
    if hint is not None and hint not in hint_ids:
        raise MetadataError(f"mutant {file} points to hint {hint!r}, which is not defined")
    return Mutant(path=path, misconception=misconception, hint=str(hint) if hint else None)


TEST_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(test\w*)\s*\(", re.MULTILINE)


def defined_tests(folder: Path) -> set[str]:
    """Names of the test functions in the folder's test files, read as text (never imported)."""
    names: set[str] = set()
    for path in folder.glob("test_*.py"):
        try:
            names.update(TEST_DEF.findall(path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
    return names


HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$")


def heading(text: str) -> str | None:
    """The first level-one heading of a Markdown text, if it has one."""
    for line in text.splitlines():
        match = HEADING.match(line)
        if match:
            return match.group(1)
    return None
