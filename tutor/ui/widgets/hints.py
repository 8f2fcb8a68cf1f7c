"""Hints: revealed one at a time, the ones that fit the current failure first."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tutor.core.catalog import Exercise, Hint

TIERS = {1: "nudge", 2: "concept", 3: "near-code"}


def next_hint(
    exercise: Exercise, seen: list[str], failing: set[str], preferred: str = ""
) -> Hint | None:
    """The next unseen hint: the one for a diagnosed mistake, then those linked to failing
    tests, lowest tier first."""
    unseen = [hint for hint in exercise.hints if hint.id not in seen]
    diagnosed = [hint for hint in unseen if hint.id == preferred]
    if diagnosed:
        return diagnosed[0]
    fitting = [hint for hint in unseen if failing & set(hint.tests)]
    pool = fitting or unseen
    return min(pool, key=lambda h: h.tier) if pool else None


def render_hints(
    exercise: Exercise, seen: list[str], failing: set[str], preferred: str = ""
) -> RenderableType:
    parts: list[RenderableType] = []
    upcoming = next_hint(exercise, seen, failing, preferred)
    if upcoming is not None and upcoming.id == preferred:
        parts.append(
            Text("A hint fits the mistake your weights show: press h.", style="bold yellow")
        )
    elif upcoming is not None and failing & set(upcoming.tests):
        parts.append(Text("A hint fits this failure: press h.", style="bold yellow"))
    elif upcoming is not None:
        parts.append(Text("Press h for a hint.", style="dim"))
    elif exercise.hints:
        parts.append(Text("You have seen every hint of this exercise.", style="dim"))
    else:
        parts.append(Text("This exercise has no hints.", style="dim"))
    by_id = {hint.id: hint for hint in exercise.hints}
    for number, hint_id in enumerate(seen, start=1):
        hint = by_id.get(hint_id)
        if hint is not None:
            label = TIERS.get(hint.tier, str(hint.tier))
            parts.append(Text.assemble(f"\n{number}. ", (f"[{label}] ", "bold cyan"), hint.text))
    return Group(*parts)


class HintsPane(VerticalScroll):
    """The hints seen so far for the current exercise."""

    BORDER_TITLE = "Hints"

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("", id="hints-body")

    def show(
        self, exercise: Exercise, seen: list[str], failing: set[str], preferred: str = ""
    ) -> None:
        body = render_hints(exercise, seen, failing, preferred)
        self.query_one("#hints-body", Static).update(body)
