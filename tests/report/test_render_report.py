"""The report's rendering from report data made by hand (no records, no gateway, no browser):
what each page says, that every value is escaped and every control character shown, that
nothing is loaded from anywhere, and that every chart has words and a table beside it."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from typing import Any

import pytest

from planner.app.report import window
from planner.model.report import (
    ABSENT,
    APPLIED,
    COMPLIANCE,
    DRIFT_FOUND,
    FAILED,
    LIVE,
    STRONG,
    WEAK,
    WEAKENING_ALLOWED,
    AuditStatus,
    DayCount,
    DriftItem,
    DriftSummary,
    EnvironmentStatus,
    FieldDiff,
    HistoryEvent,
    LastApply,
    LockStatus,
    ModelEntry,
    ModelPosture,
    Report,
    SafetyNote,
    Setting,
    day_counts,
    level_of,
)
from planner.render.report import charts, model_slug, render_site
from tests.report.fleet import text_of

COLUMNS = ("profanity", "pii", "self_harm", "political", COMPLIANCE)
DAYS = window("2026-11-25T12:00:00.000Z", 7)[1]
HOSTILE = "<script>alert(1)</script>\x1b[2J\u202e"


def posture(address: str, pii: tuple[str, int, str] | None, mode: str = "strict", **options: Any) -> ModelPosture:
    settings = [Setting(COMPLIANCE, mode, None, STRONG if mode == "strict" else WEAK)]
    if pii is not None:
        settings.append(Setting("pii", pii[0], pii[1], pii[2]))
    return ModelPosture(address, f"id-{address}", tuple(settings), LIVE, **options)


def environment(name: str, postures: tuple[ModelPosture, ...], events: tuple[HistoryEvent, ...] = (), **options: Any) -> EnvironmentStatus:
    defaults: dict[str, Any] = dict(
        records=f"local files in state/{name}",
        models_managed=len(postures),
        last_apply=LastApply("2026-11-24T10:00:00.000Z", by=None, succeeded=2, failed=0, detailed=True),
        drift=DriftSummary("2026-11-25T11:00:00.000Z", True, len(postures), 0, ()),
        lock=None,
        audit=AuditStatus(True, 12),
        posture_source="live, read at report time",
    )
    defaults.update(options)
    return EnvironmentStatus(name=name, posture=postures, events=events, days=day_counts(events, DAYS), **defaults)


def sample_report() -> Report:
    applied = HistoryEvent("2026-11-24T10:00:00.000Z", APPLIED, "configuration_update", "success", "support-bot", "id-support-bot", "a-1", "behaviour", changes=(FieldDiff("max_tokens", 1024, 2048),), version=3)
    allowed = HistoryEvent(
        "2026-11-24T11:00:00.000Z", WEAKENING_ALLOWED, "configuration_update", "success", "support-bot", "id-support-bot", "a-2", "weakens",
        by="octocat (GITHUB_ACTOR)", via="--allow-weakening", changes=(FieldDiff("safety_filters[pii].action", "block", "redact"),),
        notes=(SafetyNote("safety_filters[pii].action", "weakens", "redact is a weaker action than block"),), version=4,
    )
    old = HistoryEvent("2026-11-23T09:00:00.000Z", APPLIED, "configuration_update", "success", "support-bot", "id-support-bot", "a-0", changes=None, version=2)
    refused = HistoryEvent("2026-11-25T08:00:00.000Z", FAILED, "configuration_update", "failure", "summarizer", "id-summarizer", "a-3", error=f"bad.request: {HOSTILE}", changes=(FieldDiff("max_tokens", 512, 9000),))
    drifted = DriftItem("summarizer", "id-summarizer", "changed_outside", (FieldDiff("safety_filters[pii].threshold", 95, 80),), (SafetyNote("safety_filters[pii].threshold", "weakens", "with a higher threshold the pii filter acts on less content"),))
    found = HistoryEvent("2026-11-25T11:00:00.000Z", DRIFT_FOUND, "drift", "changed_outside", "summarizer", "id-summarizer", changes=drifted.changes, notes=drifted.weakenings, classification="weakens")
    prod = environment(
        "prod",
        (posture("summarizer", ("redact", 95, "medium"), drift_kind="changed_outside", weakened_outside=True), posture("support-bot", ("block", 5, STRONG))),
        (refused, found),
        drift=DriftSummary("2026-11-25T11:00:00.000Z", True, 2, 1, (drifted,)),
        lock=LockStatus("apply", "ci@runner-7", "2026-11-25T11:59:00.000Z", "https://ci.example/runs/42"),
        last_apply=LastApply("2026-11-25T08:00:00.000Z", succeeded=0, failed=1, detailed=True),
    )
    staging = environment("staging", (posture("summarizer", ("redact", 95, "medium")), posture("support-bot", ("redact", 80, "medium"), mode="permissive")), (old, applied, allowed))
    models = (
        ModelEntry("summarizer", (("prod", prod.posture[0]), ("staging", staging.posture[0])), (("prod", refused), ("prod", found))),
        ModelEntry("support-bot", (("prod", prod.posture[1]), ("staging", staging.posture[1])), (("staging", old), ("staging", applied), ("staging", allowed))),
    )
    return Report("2026-11-25T12:00:00.000Z", "0.1.0", 7, "2026-11-19T00:00:00.000Z", False, (prod, staging), COLUMNS, models)


@pytest.fixture(scope="module")
def site() -> dict[str, str]:
    return dict(render_site(sample_report()))


def test_the_site_has_a_first_page_posture_history_and_a_page_per_model(site: dict[str, str]) -> None:
    assert sorted(site) == ["history.html", "index.html", "models/summarizer.html", "models/support-bot.html", "posture.html"]


def test_the_first_page_says_every_problem_in_words(site: dict[str, str]) -> None:
    index = text_of(site["index.html"])
    assert "2 environments, 1 with problems, 1 model with safety weakened outside llmplan" in index
    assert "prod · summarizer (found live 2026-11-25 11:00:00 UTC)" in index
    assert "safety_filters[pii].threshold : with a higher threshold the pii filter acts on less content" in index
    assert "prod ✖ 4 problems" in index and "staging ✓ no problems" in index
    for problem in (
        "error: safety weakened outside llmplan: 1 model",
        "warning: drift: 1 of 2 models differ from the YAML",
        "warning: last apply: 1 change failed",
        "notice: locked by apply (ci@runner-7) since 2026-11-25T11:59:00.000Z",
    ):
        assert problem in index
    assert "held by apply (ci@runner-7) since 2026-11-25 11:59:00 UTC · CI run https://ci.example/runs/42" in index
    assert "1 unmanaged on the gateway" in index
    assert "last 7 days applied 0 · failed 1 · weakenings allowed 0 · drift found 1" in index


def test_values_are_escaped_and_control_characters_shown_never_obeyed(site: dict[str, str]) -> None:
    everything = "".join(site.values())
    assert "<script>alert(1)" not in everything
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\u001b[2J\\u202e" in site["models/summarizer.html"]
    assert re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", everything) is None


def csp_of(page: str) -> str:
    found = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert found is not None
    return html.unescape(found.group(1))  # as the browser reads the attribute


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@pytest.mark.parametrize("name", ["index.html", "posture.html", "history.html", "models/support-bot.html"])
def test_a_page_loads_nothing_and_runs_only_its_own_inline_script(site: dict[str, str], name: str) -> None:
    page = site[name]
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert csp_of(page) == f"default-src 'none'; style-src {sha256_source(style)}; script-src {sha256_source(script)}; img-src data:; base-uri 'none'; form-action 'none'"
    assert re.search(r"<(link|img|iframe|object|embed)\b", page) is None
    assert re.search(r"\b(src|srcset|data)=", page) is None
    assert re.findall(r"url\((?!#)", page) == []
    assert all(not target.startswith(("http:", "https:", "//")) for target in re.findall(r'href="([^"]*)"', page))
    assert ' style="' not in page  # a style attribute would be refused by the policy


def test_every_chart_has_a_title_a_description_and_a_table_of_its_numbers(site: dict[str, str]) -> None:
    history = site["history.html"]
    charts_found = re.findall(r'<svg class="chart timeline".*?role="img" aria-labelledby="(\S+) (\S+)">\s*<title id="\1">([^<]+)</title>\s*<desc id="\2">([^<]+)</desc>', history)
    assert [title for _, _, title, _ in charts_found] == ["Changes in prod per day", "Changes in staging per day"]
    assert "Changes in staging per day from 2026-11-19 to 2026-11-25: 2 applied, 1 weakening allowed, 0 failed, 0 drift found; the busiest day had 2." in history
    text = text_of(history)
    assert "Changes in staging per day (days without any are left out) day applied weakening allowed failed drift found 2026-11-23 1 0 0 0 2026-11-24 1 1 0 0" in text
    posture = site["posture.html"]
    assert '<title id="levels-title">Safety settings of each environment by strength</title>' in posture
    assert "Settings of each environment by strength (each model's filters and compliance mode) environment strong medium weak none prod 3 1 0 6 staging 1 2 1 6" in text_of(posture)


def test_colour_is_never_the_only_signal(site: dict[str, str]) -> None:
    posture = text_of(site["posture.html"])
    assert "▮▮▮ strong ▮▮▯ medium ▮▯▯ weak ▯▯▯ none" in posture  # the legend: glyph and word per colour
    assert "applied (solid) weakening allowed (stripes) failed (cross) drift found (dots)" in text_of(site["history.html"])
    matrix = site["posture.html"][site["posture.html"].index('id="matrix"') :]
    assert '<td class="lvl-strong differs" title="prod · pii: block 5 (strong), differs between environments"><span class="glyph" aria-hidden="true">▮▮▮</span>block 5 <span aria-label="differs between environments"' in matrix
    assert '<td class="lvl-absent"><span class="glyph" aria-hidden="true">▯▯▯</span>none</td>' in matrix


def test_the_differences_between_environments_are_listed(site: dict[str, str]) -> None:
    posture = text_of(site["posture.html"])
    differences = posture[posture.index("Differences between environments") : posture.index("All models")]
    assert "1 model is configured differently across environments" in differences
    assert "support-bot pii ▮▮▮ block 5 ≠ ▮▮▯ redact 80 ≠ support-bot compliance mode ▮▮▮ strict ≠ ▮▯▯ permissive ≠" in differences
    assert "summarizer" not in differences
    assert '<tr data-model="support-bot" data-differs>' in site["posture.html"]
    assert '<tr data-model="summarizer">' in site["posture.html"]


def test_a_model_page_shows_each_change_as_a_diff_with_time_actor_classification_and_audit_id(site: dict[str, str]) -> None:
    page = text_of(site["models/support-bot.html"])
    assert page.index("weakening allowed") < page.index("applied : update applied") < page.index("Field-level details not recorded")  # newest first
    assert (
        "weakening allowed : update applied when 2026-11-24 11:00:00 UTC environment staging safety weakens · allowed by octocat (GITHUB_ACTOR) (--allow-weakening) version 4 audit id a-2"
        ' safety_filters[pii].action weakens: redact is a weaker action than block Fields changed by this update field before after safety_filters[pii].action "block" "redact"'
    ) in page
    assert "audit id a-1 Fields changed by this update field before after max_tokens 1024 2048" in page
    assert "audit id a-0 Field-level details not recorded (this entry was written before llmplan recorded them)." in page
    drift = text_of(site["models/summarizer.html"])
    assert "drift found : live changed outside llmplan" in drift
    assert "Where live differs from the YAML field live YAML (what apply would restore) safety_filters[pii].threshold 95 80" in drift
    assert "Fields this refused update would have changed field before after max_tokens 512 9000" in drift


def test_model_pages_are_named_after_plain_addresses_and_hashed_otherwise() -> None:
    assert model_slug("support-bot") == "support-bot"
    assert model_slug("Support Bot/../x") == "_" + hashlib.sha256(b"Support Bot/../x").hexdigest()[:16]
    assert model_slug("_x") != "_x" and model_slug("") != ""


# --- the data under the pages ---------------------------------------------------


def test_an_environment_with_problems_orders_them_worst_first() -> None:
    quiet = environment("dev", ())
    assert quiet.problems == () and quiet.severity == 0
    busy = environment("prod", (), lock=LockStatus("apply", "me@box", "2026-11-25T11:59:00.000Z"), audit=AuditStatus(False, 3, "line 2: edited"), errors=("the gateway could not be read",))
    assert [problem.severity for problem in busy.problems] == ["error", "error", "notice"]
    assert busy.problems[1].text == "audit trail does not verify: line 2: edited" and busy.severity == 3


def test_strength_levels_follow_each_scale_strongest_first() -> None:
    order = ("block", "redact", "flag")
    assert [level_of(action, order) for action in (*order, None, "warn")] == [STRONG, "medium", WEAK, ABSENT, ABSENT]
    assert level_of("strict", ("strict", "permissive")) == STRONG and level_of("permissive", ("strict", "permissive")) == WEAK


def test_the_window_counts_today_and_its_days_start_at_midnight() -> None:
    since, days = window("2026-03-01T08:30:00.000Z", 3)
    assert (since, days) == ("2026-02-27T00:00:00.000Z", ("2026-02-27", "2026-02-28", "2026-03-01"))


def test_the_timeline_stacks_each_days_counts_to_scale() -> None:
    days = (DayCount("2026-11-24", applied=2, failed=1), DayCount("2026-11-25"), DayCount("2026-11-26", applied=4, drift=2))
    chart = charts.timeline(days, name="prod")
    assert chart.peak == 6
    heights = {column.day: [(bar.series, bar.height) for bar in column.bars] for column in chart.columns}
    unit = (chart.plot_bottom - chart.plot_top) / 6
    assert heights == {"2026-11-24": [("applied", round(2 * unit, 2)), ("failed", round(unit, 2))], "2026-11-25": [], "2026-11-26": [("applied", round(4 * unit, 2)), ("drift", round(2 * unit, 2))]}
    assert chart.columns[0].label == "2026-11-24: 2 applied, 1 failed"
    assert chart.columns[1].label == "2026-11-25: nothing recorded"
    assert charts.timeline((DayCount("2026-11-24"),), name="dev").columns[0].bars == ()
