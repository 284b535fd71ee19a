"""The cockpit's themes: data turned into Textual ``Theme`` objects with semantic variables.

Styles use only ``$variables`` (``$gpu-hot``, ``$node-down``, ``$stale`` and Textual's own), so a
theme is the one place colours live. ``cockpit-ansi`` uses only the 16 ANSI colours, for tmux
sessions without truecolor (``TERM=screen`` or ``tmux-256color``).
"""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

STYLESHEET = Path(__file__).with_name("cockpit.tcss")
DEFAULT_THEME = "cockpit-dark"


def _theme(name: str, *, hot: str, down: str, stale: str, **colours: object) -> Theme:
    variables = dict(colours.pop("variables", {}) or {})  # type: ignore[arg-type]
    variables.update({"gpu-hot": hot, "node-down": down, "stale": stale})
    variables.setdefault("border-blurred", stale)
    return Theme(name=name, variables=variables, **colours)  # type: ignore[arg-type]


THEMES: tuple[Theme, ...] = (
    _theme(
        "cockpit-dark",
        primary="#4EA1D3",
        secondary="#7A88CF",
        accent="#5FD7D7",
        warning="#E5C07B",
        error="#F0565C",
        success="#7FC97F",
        foreground="#D8DEE9",
        background="#12161C",
        surface="#1A2029",
        panel="#232B36",
        dark=True,
        hot="#FF6E40",
        down="#FF4D5E",
        stale="#8A8F98",
    ),
    _theme(
        "cockpit-light",
        primary="#1F6FB2",
        secondary="#5B5FC7",
        accent="#007C89",
        warning="#9A6700",
        error="#C62828",
        success="#2E7D32",
        foreground="#1B1F24",
        background="#F7F8FA",
        surface="#ECEFF3",
        panel="#DDE3EA",
        dark=False,
        hot="#D84315",
        down="#B71C1C",
        stale="#6B7280",
    ),
    _theme(
        "cockpit-contrast",
        primary="#FFFFFF",
        secondary="#FFFF00",
        accent="#00FFFF",
        warning="#FFFF00",
        error="#FF3030",
        success="#00FF00",
        foreground="#FFFFFF",
        background="#000000",
        surface="#000000",
        panel="#1C1C1C",
        dark=True,
        hot="#FF8000",
        down="#FF0000",
        stale="#C0C0C0",
        variables={"block-cursor-foreground": "#000000", "block-cursor-background": "#FFFF00"},
    ),
    _theme(
        "cockpit-ansi",
        ansi=True,
        primary="ansi_blue",
        secondary="ansi_cyan",
        accent="ansi_cyan",
        warning="ansi_yellow",
        error="ansi_red",
        success="ansi_green",
        foreground="ansi_default",
        background="ansi_default",
        surface="ansi_default",
        panel="ansi_default",
        boost="ansi_default",
        dark=True,
        hot="ansi_bright_red",
        down="ansi_bright_red",
        stale="ansi_bright_black",
        variables={
            "ansi-background": "ansi_black",
            "ansi-foreground": "ansi_white",
            "input-cursor-background": "ansi_black",
            "input-cursor-foreground": "ansi_bright_white",
            "input-cursor-text-style": "none",
            "input-selection-background": "ansi_bright_blue",
            "input-selection-foreground": "ansi_black",
            "screen-selection-background": "ansi_bright_blue",
            "screen-selection-foreground": "ansi_black",
            "block-cursor-foreground": "ansi_black",
            "block-cursor-background": "ansi_white",
            "block-cursor-blurred-foreground": "ansi_default",
            "block-cursor-blurred-background": "ansi_bright_black",
            "footer-background": "ansi_default",
            "border-blurred": "ansi_bright_black",
        },
    ),
)
THEME_NAMES = tuple(t.name for t in THEMES)
