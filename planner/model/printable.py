"""Text from users and servers made safe to print: control characters shown, never obeyed.

A model file may be named ``$'\\e[2J\\e]0;pwned\\a.yaml'``, a gateway may
answer with an error message holding escape sequences, a state file may be
hand-edited. Printed raw, such text can clear a CI log, rewrite the
terminal's title, hide a line or fake one (a newline in a file name makes a
problem that looks like two). :func:`printable` is the one place that
defuses it: every message, warning, log line and plan rendering passes what
it did not write itself through it.
"""

from __future__ import annotations

import logging
import re

# C0 controls (ESC, BEL, CR, NUL…), DEL, C1 controls (0x9b is CSI to some
# terminals), the bidirectional overrides and isolates that reorder what is
# shown ("Trojan Source"), and the Unicode line and paragraph separators.
_OTHERS = r"\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
_UNSAFE = re.compile(rf"[\x00-\x1f{_OTHERS}]")
_UNSAFE_BUT_NEWLINE = re.compile(rf"[\x00-\x09\x0b-\x1f{_OTHERS}]")


SHOWN_CHARS = 60

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    return _NAMED.get(character) or f"\\u{ord(character):04x}"


def printable(text: object, *, newlines: bool = False) -> str:
    """``text`` with every control character written as an escape (``\\u001b``, ``\\u202e``, ``\\n``).

    ``newlines=True`` keeps ``\\n`` for text that is several lines by design
    (an error listing its problems); the pieces a user controls inside it
    must have been escaped whole before they were joined. The escapes are
    JSON's, so a JSON document passed through stays the same document.
    Backslashes are left alone, so escaping twice changes nothing.
    """
    text = str(text)
    pattern = _UNSAFE_BUT_NEWLINE if newlines else _UNSAFE
    if pattern.search(text) is None:  # the common case: nothing to copy
        return text
    return pattern.sub(_escape, text)


class PrintableFormatter(logging.Formatter):
    """A log formatter whose message is one printable line (a traceback, with --debug, is ours and kept)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = printable(record.message)
        return super().formatMessage(record)


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters, so one huge value cannot flood a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
