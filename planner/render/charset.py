"""Text for an output that cannot show every character.

Plans print ``→`` between a live value and the YAML's, ``…`` in shortened
values, ``—`` in tables, ``─`` in the rule that heads each environment of a
report over several. On an output that is not UTF-8 — a stream in
another encoding, or a process whose locale is ``C``/``POSIX``
(``LC_ALL=C``: Python then writes UTF-8 anyway, and the terminal shows
mojibake) — they become ``->``, ``...`` and ``-``. Everything the CLI prints
goes through :func:`for_stream`, the one place that decides; files written
with ``--out`` are always UTF-8 and keep them.
"""

from __future__ import annotations

import codecs
import os
from typing import Any, Mapping, TextIO

ASCII_FORMS = {
    "→": "->",
    "←": "<-",
    "…": "...",
    "—": "-",
    "–": "-",
    "─": "-",
    "⚠️": "!",
    "⚠": "!",
    "·": "-",
    "≤": "<=",
    "≥": ">=",
    "×": "x",
    "\u00a0": " ",
}
_COERCED = ("C.UTF-8", "C.utf8", "UTF-8")  # what Python sets LC_CTYPE to when it coerces a C locale
_TABLE = str.maketrans({key: value for key, value in ASCII_FORMS.items() if len(key) == 1})


def wants_ascii(stream: Any, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` should get ASCII arrows: its encoding is not UTF-8,
    or the locale is set to C/POSIX or names another charset — unless the
    user asked Python for UTF-8 with PYTHONIOENCODING or PYTHONUTF8. With no
    locale set at all, UTF-8, as Python itself assumes."""
    environ = os.environ if environ is None else environ
    try:
        encoding = codecs.lookup(getattr(stream, "encoding", None) or "ascii").name
    except LookupError:
        return True
    if encoding != "utf-8":
        return True
    if environ.get("PYTHONIOENCODING") or environ.get("PYTHONUTF8") == "1":
        return False
    if not environ.get("LC_ALL") and environ.get("LC_CTYPE") in _COERCED and environ.get("LANG") in ("C", "POSIX"):
        return True  # LANG=C, and Python's own C locale coercion (PEP 538) set LC_CTYPE: the locale is C
    for name in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = environ.get(name)
        if value:
            if value in ("C", "POSIX"):
                return True
            charset = value.partition(".")[2].partition("@")[0].lower().replace("-", "").replace("_", "")
            return bool(charset) and charset != "utf8"
    return False  # no locale set at all: UTF-8, as Python itself assumes (PEP 538, 540)


def to_ascii(text: str, encoding: str = "ascii") -> str:
    """``text`` with arrows and punctuation in ASCII; anything else the
    encoding cannot hold becomes ``?`` rather than an exception."""
    text = text.replace("⚠️", "!").translate(_TABLE)
    return text.encode(encoding, "replace").decode(encoding)


class AsciiWriter:
    """A text stream's ``write`` with :func:`to_ascii` applied (what renderers need of a stream)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            self.encoding = codecs.lookup(encoding).name
        except LookupError:
            self.encoding = "ascii"

    def write(self, text: str) -> int:
        return self.stream.write(to_ascii(text, self.encoding))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return bool(self.stream.isatty())


def for_stream(stream: TextIO, environ: Mapping[str, str] | None = None) -> TextIO:
    """``stream`` itself, or an :class:`AsciiWriter` over it when it cannot show UTF-8."""
    return AsciiWriter(stream) if wants_ascii(stream, environ) else stream  # type: ignore[return-value]
