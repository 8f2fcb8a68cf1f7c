"""Which hint comes next: one rule for the app and for ``attn-tutor hint``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tutor.core.catalog import Exercise, Hint

TIER_NAMES = {1: "nudge", 2: "concept", 3: "near-code"}


@dataclass(frozen=True)
class Failure:
    """What the latest counted run of an exercise showed.

    ``tests`` are the failing test functions; ``diagnosis_hint`` is the id of the hint that
    the diagnosed mistake points to (empty when the picture matched no known mistake).
    """

    tests: frozenset[str] = frozenset()
    diagnosis_hint: str = ""


class Fit(Enum):
    """Why a hint comes next."""

    DIAGNOSIS = "the mistake your weights show"
    FAILURE = "this failure"
    GENERAL = "the exercise"


@dataclass(frozen=True)
class NextHint:
    hint: Hint
    fit: Fit


def next_hint(exercise: Exercise, seen: list[str], failure: Failure) -> NextHint | None:
    """The next unseen hint: the diagnosed mistake's, then those linked to a failing test,
    then any; the lowest tier first within each."""
    unseen = [hint for hint in exercise.hints if hint.id not in seen]
    for hint in unseen:
        if failure.diagnosis_hint and hint.id == failure.diagnosis_hint:
            return NextHint(hint, Fit.DIAGNOSIS)
    fitting = [hint for hint in unseen if failure.tests & set(hint.tests)]
    if fitting:
        return NextHint(min(fitting, key=lambda h: h.tier), Fit.FAILURE)
    if unseen:
        return NextHint(min(unseen, key=lambda h: h.tier), Fit.GENERAL)
    return None


def tier_name(hint: Hint) -> str:
    return TIER_NAMES.get(hint.tier, str(hint.tier))
