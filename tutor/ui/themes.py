"""The themes the tutor picks by itself, and the colour roles its text is drawn in.

Every text role stays at least 4.5:1 against the background it is drawn on, in each theme
the tutor chooses without being asked (``tests/test_contrast.py`` computes the ratios):

- on a terminal with more than 16 colours, Textual's ``textual-dark``;
- on 16 colours, ``attn-ansi``: the bright half of the palette, which stays readable on the
  usual dark terminal backgrounds (the plain blue or red of many palettes does not);
- under ``NO_COLOR``, ``attn-light``: Textual draws every colour as the grey of its
  brightness, and on a light background those greys stay dark enough to read.
"""

from __future__ import annotations

from textual.theme import Theme

DARK = "textual-dark"
ANSI = "attn-ansi"
NO_COLOR = "attn-light"

# The roles the widgets' styles name (as $variables), and what each is drawn on.
TEXT_ROLES: tuple[tuple[str, str], ...] = (
    ("text", "background"),
    ("text", "surface"),
    ("text", "panel"),
    ("text-muted", "background"),
    ("text-muted", "surface"),
    ("text-error", "background"),
    ("text-warning", "background"),
    ("text-success", "background"),
    ("text-accent", "background"),
    ("text-error", "surface"),
    ("text-warning", "surface"),
    ("text-success", "surface"),
    ("text-accent", "surface"),
    ("footer-key-foreground", "footer-background"),
    ("footer-description-foreground", "footer-background"),
)
# Lines rather than words: the pane borders.
LINE_ROLES: tuple[tuple[str, str], ...] = (("primary", "background"),)

ATTN_ANSI = Theme(
    name=ANSI,
    ansi=True,
    primary="ansi_bright_blue",
    secondary="ansi_bright_cyan",
    warning="ansi_bright_yellow",
    error="ansi_bright_red",
    success="ansi_bright_green",
    accent="ansi_bright_cyan",
    foreground="ansi_default",
    background="ansi_default",
    surface="ansi_default",
    panel="ansi_default",
    boost="ansi_default",
    dark=True,
    variables={
        "text-muted": "ansi_white",
        "text-error": "ansi_bright_red",
        "text-warning": "ansi_bright_yellow",
        "text-success": "ansi_bright_green",
        "text-accent": "ansi_bright_cyan",
        "footer-key-foreground": "ansi_bright_magenta",
        "border": "ansi_bright_blue",
        "border-blurred": "ansi_bright_black",
        "ansi-background": "ansi_black",
        "ansi-foreground": "ansi_white",
        "block-cursor-foreground": "ansi_black",
        "block-cursor-background": "ansi_white",
        "input-cursor-background": "ansi_black",
        "input-cursor-foreground": "ansi_bright_white",
        "input-selection-background": "ansi_bright_blue",
        "input-selection-foreground": "ansi_black",
        "screen-selection-background": "ansi_bright_blue",
        "screen-selection-foreground": "ansi_black",
    },
)

ATTN_LIGHT = Theme(
    name=NO_COLOR,
    primary="#004578",
    secondary="#0A4F86",
    accent="#6B420A",
    warning="#6B420A",
    error="#7A273C",
    success="#1F5530",
    surface="#E6E6E6",
    panel="#DADADA",
    background="#EEEEEE",
    dark=False,
    variables={
        "text-muted": "#4A4A4A",
        "text-error": "#7A273C",
        "text-warning": "#6B420A",
        "text-success": "#1F5530",
        "text-accent": "#6B420A",
        "footer-key-foreground": "#004578",
        "footer-background": "#DADADA",
        "footer-foreground": "#1F1F1F",
        "footer-description-foreground": "#1F1F1F",
    },
)

THEMES = (ATTN_ANSI, ATTN_LIGHT)
