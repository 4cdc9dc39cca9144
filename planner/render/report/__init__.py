"""``llmplan report`` as a static site: Jinja2 templates, inline SVG charts, no network at view time.

:func:`render_site` turns a :class:`~planner.model.report.Report` into the
site's files (relative path, text) and decides nothing: what is a problem,
what is strong or weak, was decided when the report was gathered.

Every page stands alone: its style and its few lines of script are inline,
and a Content-Security-Policy allows only those (by hash) and nothing from
anywhere else, so a page opened from a CI artifact, GitHub Pages or a laptop
loads nothing from the network. Every value is escaped by Jinja2's
autoescape, after control characters are made visible the way every other
output does it (:func:`planner.model.printable.printable`). Every chart is drawn
as inline SVG with a title, a description and a table of the same numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Iterator

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from planner.model.printable import printable
from planner.model.report import COMPLIANCE, DRIFT_TEXT, LEVELS, ModelEntry, Report, Setting
from planner.render.report import charts

_SAFE_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,80}$")
LEVEL_GLYPHS = {"strong": "▮▮▮", "medium": "▮▮▯", "weak": "▮▯▯", "absent": "▯▯▯"}
LEVEL_WORDS = {"strong": "strong", "medium": "medium", "weak": "weak", "absent": "none"}
EVENTS_SHOWN = 100  # per environment on the history page; each model's page has all of its own


def model_slug(address: str) -> str:
    """The file name of a model's page: its address when that is a plain name, else a hash of it."""
    if _SAFE_SLUG.match(address):
        return address
    return "_" + hashlib.sha256(address.encode("utf-8")).hexdigest()[:16]


def _finalize(value: Any) -> Any:
    """Every ``{{ … }}``: control characters shown, never obeyed (then autoescaped)."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return printable(value)
    if value is None:
        return ""
    return value


def value_text(value: Any) -> str:
    """A configuration value as plans show it: compact JSON; "(none)" for an absent one."""
    if value is None:
        return "(none)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def when(stamp: str | None) -> str:
    """``2026-11-25T14:20:14.374Z`` as ``2026-11-25 14:20:14 UTC``."""
    if not stamp:
        return "unknown"
    text = str(stamp)
    if len(text) >= 19 and text[10] == "T":
        return f"{text[:10]} {text[11:19]} UTC"
    return text


def _column_title(column: str) -> str:
    return "compliance mode" if column == COMPLIANCE else column


@lru_cache(maxsize=1)
def _assets() -> tuple[str, str]:
    """The style and the script every page carries inline."""
    folder = resources.files("planner.render.report") / "assets"
    return (folder / "report.css").read_text(encoding="utf-8"), (folder / "report.js").read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


@lru_cache(maxsize=1)
def _jinja() -> Environment:
    environment = Environment(
        loader=PackageLoader("planner.render.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    css, js = _assets()
    environment.globals.update(
        css=Markup(css),
        js=Markup(js),
        csp=f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; img-src data:; base-uri 'none'; form-action 'none'",
        glyphs=LEVEL_GLYPHS,
        level_words=LEVEL_WORDS,
        levels=LEVELS,
        drift_text=DRIFT_TEXT,
        timeline_series=charts.TIMELINE_SERIES,
        level_series=charts.LEVEL_SERIES,
        patterns=charts.PATTERNS,
        events_shown=EVENTS_SHOWN,
    )
    environment.filters.update(value=value_text, when=when, slug=model_slug, column_title=_column_title)
    return environment


def _cells(jinja: Environment) -> Callable[[Setting, bool, str], Markup]:
    """A posture cell's HTML from its template, rendered once per distinct cell: a fleet of
    10,000 model-environment pairs has 100,000 cells but a few hundred kinds of them."""
    template = jinja.get_template("_cell.html")
    made: dict[tuple[Setting, bool, str], Markup] = {}

    def cell(setting: Setting, differs: bool, where: str) -> Markup:
        key = (setting, differs, where)
        try:
            return made[key]
        except KeyError:
            made[key] = Markup(template.render(setting=setting, differs=differs, where=f"{where} · "))
            return made[key]
        except TypeError:  # a value that cannot be a key (a threshold hand-edited into a list)
            return Markup(template.render(setting=setting, differs=differs, where=f"{where} · "))

    return cell


def render_site(report: Report) -> Iterator[tuple[str, str]]:
    """The site's files, one at a time: (path relative to the site's folder, text)."""
    jinja = _jinja()
    common = {"report": report, "columns": report.columns, "cell": _cells(jinja)}
    yield "index.html", jinja.get_template("index.html").render(**common, base="", page="index")
    level_chart = charts.levels(report.environments, report.columns)
    yield "posture.html", jinja.get_template("posture.html").render(**common, base="", page="posture", level_chart=level_chart, differing=_differing(report))
    timelines = {environment.name: charts.timeline(environment.days, name=environment.name) for environment in report.environments}
    yield "history.html", jinja.get_template("history.html").render(**common, base="", page="history", timelines=timelines)
    model_page = jinja.get_template("model.html")
    for model in report.models:
        yield f"models/{model_slug(model.address)}.html", model_page.render(**common, base="../", page="model", model=model)


def _differing(report: Report) -> tuple[tuple[ModelEntry, tuple[str, ...]], ...]:
    """The models whose settings differ between the environments holding them, with the columns that differ."""
    found = []
    for model in report.models:
        if len(model.postures) > 1:
            columns = tuple(column for column in report.columns if column in model.differing)
            if columns:
                found.append((model, columns))
    return tuple(found)
