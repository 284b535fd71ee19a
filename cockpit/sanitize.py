"""Remote text is hostile: strip what a terminal would obey before anything is drawn.

A container name, a GPU process name or a log line can carry ``ESC ] 0 ; title BEL`` (retitle the
window), ``ESC [ 2 J`` (clear the screen) or bytes that are not UTF-8. We draw text only after it has
passed through :func:`clean`; Rich markup is never parsed from remote text (cells are plain strings).
"""

from __future__ import annotations

import re

# ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/PM/APC/SOS
# (ESC P/^/_/X ... ESC \), and two-byte escapes; plus the 8-bit C1 forms of CSI and OSC.
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]                 # CSI
  | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?      # OSC, terminated or not
  | \x1b[P^_X][^\x1b]*(?:\x1b\\)?           # DCS, PM, APC, SOS
  | \x1b[ -/]*[0-~]                         # other escapes: ESC 7, ESC c, ESC ( 0 ...
  | \x9b[0-?]*[ -/]*[@-~]                   # 8-bit CSI
  | \x9d[^\x07\x9c]*[\x07\x9c]?             # 8-bit OSC
    """,
    re.VERBOSE,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidirectional overrides and zero-width characters can make a name read as another one
# ("Trojan Source"); they have no business in a host, container or process name.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")


def clean(text: str, *, limit: int = 512) -> str:
    """One safe line: escapes removed, other controls shown as '?', tabs and newlines as spaces."""
    # isprintable() is False for every control, bidi and zero-width character stripped below.
    if len(text) <= limit and text.isprintable() and "\ufffd" not in text:
        return text  # the common case, at C speed: nothing to strip
    text = _ESCAPES.sub("", text)
    text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    text = _CONTROLS.sub("?", text)
    text = _INVISIBLE.sub("", text)
    text = text.replace("\ufffd", "?")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
