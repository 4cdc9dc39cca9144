"""When output gets ASCII arrows: a table of streams and locales (pure function, no process)."""

from __future__ import annotations

import io

import pytest

from planner.render.charset import AsciiWriter, for_stream, to_ascii, wants_ascii


def stream(encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding)


@pytest.mark.parametrize(
    ("encoding", "environ", "ascii_"),
    [
        ("utf-8", {"LANG": "C.UTF-8"}, False),  # the usual terminal
        ("utf-8", {"LANG": "en_US.UTF-8"}, False),
        ("utf-8", {"LC_ALL": "de_DE.utf8", "LANG": "C"}, False),  # LC_ALL wins over LANG
        ("utf-8", {}, False),  # no locale at all: UTF-8, as Python assumes
        ("utf-8", {"LC_ALL": "C"}, True),  # Python writes UTF-8 anyway (UTF-8 mode); the terminal is C
        ("utf-8", {"LC_ALL": "POSIX", "LANG": "en_US.UTF-8"}, True),
        ("utf-8", {"LANG": "C", "LC_CTYPE": "C.UTF-8"}, True),  # what Python's C locale coercion leaves behind
        ("utf-8", {"LANG": "en_US.ISO-8859-1"}, True),  # a charset that is not UTF-8
        ("utf-8", {"LC_ALL": "C", "PYTHONUTF8": "1"}, False),  # the user asked for UTF-8
        ("utf-8", {"LC_ALL": "C", "PYTHONIOENCODING": "utf-8"}, False),
        ("latin-1", {"LANG": "C.UTF-8"}, True),  # a stream that cannot take an arrow
        ("ascii", {}, True),
    ],
)
def test_when_arrows_are_ascii(encoding: str, environ: dict[str, str], ascii_: bool) -> None:
    assert wants_ascii(stream(encoding), environ) is ascii_


def test_ascii_forms_of_what_plans_print() -> None:
    assert to_ascii('~ max_tokens: 1024 → 2048 … — ⚠️ safety') == "~ max_tokens: 1024 -> 2048 ... - ! safety"
    assert to_ascii("café → bar", "latin-1") == "café -> bar"  # what the encoding holds stays
    assert to_ascii("日本 → x") == "?? -> x"  # never an exception


def test_for_stream_wraps_only_when_needed() -> None:
    utf8, latin = stream("utf-8"), stream("latin-1")
    assert for_stream(utf8, {"LANG": "C.UTF-8"}) is utf8
    wrapped = for_stream(latin, {})
    assert isinstance(wrapped, AsciiWriter)
    wrapped.write("a → b\n")
    wrapped.flush()
    assert latin.buffer.getvalue() == b"a -> b\n"
