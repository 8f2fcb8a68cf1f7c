"""Every text role is readable: at least 4.5:1 against its background in each theme the
tutor picks by itself, computed from the themes' own colours (WCAG's contrast ratio)."""

from __future__ import annotations

import pytest
from textual._ansi_theme import DEFAULT_TERMINAL_THEME
from textual.color import Color
from textual.theme import BUILTIN_THEMES, Theme

from tutor.ui.themes import ANSI, DARK, LINE_ROLES, NO_COLOR, TEXT_ROLES, THEMES

TEXT_MINIMUM = 4.5
LINE_MINIMUM = 3.0
ALL = {**BUILTIN_THEMES, **{theme.name: theme for theme in THEMES}}
# How the tutor's picks are drawn: the ANSI theme on a terminal's usual palette and
# background, and the NO_COLOR theme through Textual's grey conversion.
CHOSEN = {DARK: "colour", ANSI: "ansi", NO_COLOR: "grey"}


def ansi_rgb(index: int) -> Color:
    palette = DEFAULT_TERMINAL_THEME.ansi_colors
    r, g, b = palette[index]
    return Color(r, g, b)


def resolve(value: str, background: Color | None, theme: Theme, role: str) -> Color:
    """A theme variable as the colour on screen (alpha blended onto ``background``)."""
    name, _, percent = value.partition(" ")
    alpha = float(percent.rstrip("%")) / 100 if percent else 1.0
    if name == "auto":
        assert background is not None
        return background.get_contrast_text(alpha)
    if name == "ansi_default":
        terminal = DEFAULT_TERMINAL_THEME
        rgb = terminal.background_color if role == "background" else terminal.foreground_color
        colour = Color(*rgb)
    elif name.startswith("ansi_"):
        colour = ansi_rgb(Color.parse(name).ansi or 0)
    else:
        colour = Color.parse(name)
    colour = colour.with_alpha(colour.a * alpha)
    return background.blend(colour, colour.a) if background is not None else colour


def luminance(colour: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.r) + 0.7152 * channel(colour.g) + 0.0722 * channel(colour.b)


def ratio(a: Color, b: Color) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def pair(theme_name: str, fg: str, bg: str) -> tuple[Color, Color]:
    theme = ALL[theme_name]
    values = theme.to_color_system().generate()
    background = resolve(values[bg], None, theme, "background")
    foreground = resolve(values[fg], background, theme, fg)
    if CHOSEN[theme_name] == "grey":
        return foreground.monochrome, background.monochrome
    return foreground, background


CASES = [(t, fg, bg) for t in CHOSEN for fg, bg in TEXT_ROLES]


@pytest.mark.parametrize(("theme", "fg", "bg"), CASES, ids=lambda x: str(x))
def test_every_text_role_is_readable(theme: str, fg: str, bg: str) -> None:
    foreground, background = pair(theme, fg, bg)
    found = ratio(foreground, background)
    assert found >= TEXT_MINIMUM, f"${fg} on ${bg} in {theme}: {found:.2f}:1"


@pytest.mark.parametrize(("theme", "fg", "bg"), [(t, f, b) for t in CHOSEN for f, b in LINE_ROLES])
def test_borders_stand_out(theme: str, fg: str, bg: str) -> None:
    foreground, background = pair(theme, fg, bg)
    assert ratio(foreground, background) >= LINE_MINIMUM


def test_the_check_would_catch_a_faint_role() -> None:
    """Textual's own light theme, grey, fails where the tutor's passes: the test can fail."""
    ALL["probe-light"] = BUILTIN_THEMES["textual-light"]
    CHOSEN["probe-light"] = "grey"
    try:
        foreground, background = pair("probe-light", "footer-key-foreground", "footer-background")
        assert ratio(foreground, background) < TEXT_MINIMUM
    finally:
        del ALL["probe-light"], CHOSEN["probe-light"]
