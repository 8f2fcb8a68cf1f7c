"""Every action of the tutor, once: its key, its footer label, and its command-palette entry.

The app's key bindings and its command palette are both built from ``ACTIONS``, so a new
action is added here and as an ``action_<name>`` method of the app, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class Action:
    """One thing the learner can do."""

    name: str  # the app's method is action_<name>
    key: str  # Textual's key name
    label: str  # in the footer
    title: str  # in the command palette
    help: str  # the palette's line under the title
    footer: bool = True  # shown in the footer (80 columns hold only so many)
    palette: bool = True  # offered in the command palette

    @property
    def binding(self) -> Binding:
        return Binding(self.key, self.name, self.label, show=self.footer)

    @property
    def key_display(self) -> str:
        return {"right_square_bracket": "]", "enter": "Enter"}.get(self.key, self.key)


# The footer shows those an 80-column terminal holds; the palette (Ctrl+p) offers all.
ACTIONS: tuple[Action, ...] = (
    Action("next", "n", "Next", "Next exercise", "Open the next exercise"),
    Action("previous", "p", "Prev", "Previous exercise", "Open the previous exercise"),
    Action("hint", "h", "Hint", "Hint", "Reveal the next hint, whole"),
    Action("run", "r", "Run", "Run tests", "Run the tests on your file now"),
    Action("details", "enter", "Details", "Every test", "Every test's message and your output"),
    Action("view", "v", "View", "Lesson or results", "Switch panes when narrow"),
    Action("list", "l", "List", "Exercise list", "Show the list of exercises"),
    Action("numbers", "m", "Numbers", "Numbers", "The attention picture as numbers", footer=False),
    Action(
        "next_head",
        "right_square_bracket",
        "Next head",
        "Next head",
        "The next head of a multi-head picture",
        footer=False,
    ),
    Action(
        "all_heads",
        "a",
        "All heads",
        "All heads",
        "Every head side by side, or one head",
        footer=False,
    ),
    Action(
        "reset",
        "x",
        "Reset",
        "Reset exercise",
        "Restore the skeleton, keeping a backup",
        footer=False,
    ),
    Action("solution", "s", "Solution", "Show solution", "The reference solution", footer=False),
    Action(
        "explain",
        "e",
        "Explain",
        "Explain the difference",
        "The smallest input where yours and the reference differ, step by step",
        footer=False,
    ),
    Action("edit", "o", "Edit", "Edit in $EDITOR", "Open your file in your editor", footer=False),
    Action("quit", "q", "Quit", "Quit", "Save and leave", palette=False),
)


def bindings() -> list[BindingType]:
    """The app's key bindings, one per action."""
    return [action.binding for action in ACTIONS]
