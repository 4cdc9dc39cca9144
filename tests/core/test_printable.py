"""printable(): control characters shown as escapes, never passed to the terminal."""

from __future__ import annotations

import json
import logging

import pytest

from planner.model.printable import PrintableFormatter, printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("support-bot.yaml", "support-bot.yaml"),  # nothing to do: the same text
        ("\x1b[2J\x1b]0;pwned\x07", "\\u001b[2J\\u001b]0;pwned\\u0007"),  # clear screen, set the title
        ("a\nb\rc\td", "a\\nb\\rc\\td"),  # a newline would fake a second line
        ("\x9b31m", "\\u009b31m"),  # C1 CSI, a one-character escape to some terminals
        ("\x7f\x00", "\\u007f\\u0000"),
        ("admin\u202etxt.yaml", "admin\\u202etxt.yaml"),  # a right-to-left override reorders what is shown
        ("\u2066x\u2069\u200f\u2028", "\\u2066x\\u2069\\u200f\\u2028"),
        ("café → ☕ 日本", "café → ☕ 日本"),  # ordinary non-ASCII stays
    ],
)
def test_control_characters_are_escaped(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_newlines_may_be_kept_for_text_that_has_lines_by_design() -> None:
    assert printable("Error: 2 problems\n  a\x1b.yaml: bad\n", newlines=True) == "Error: 2 problems\n  a\\u001b.yaml: bad\n"


def test_escaping_twice_changes_nothing() -> None:
    once = printable("x\x1b[31m\u202e")
    assert printable(once) == once


def test_a_json_document_passed_through_is_the_same_document() -> None:
    document = json.dumps({"name": "x\x7f\x9b\u202e\x1b", "n": 1}, ensure_ascii=False, indent=2)
    assert json.loads(printable(document, newlines=True)) == json.loads(document)


def test_a_log_line_is_one_printable_line() -> None:
    record = logging.LogRecord("llmplan.test", logging.WARNING, __file__, 1, "delivery to %s failed", ("gw\x1b[2J\nINFO fake line",), None)
    line = PrintableFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert line == "WARNING llmplan.test: delivery to gw\\u001b[2J\\nINFO fake line failed"
