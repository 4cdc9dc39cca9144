"""`llmplan report` opened in a real browser: Debian's Chromium, driven by Playwright.

The fleet of ../fleet.py (real applies, a failure, a weakening allowed, a
console edit, a drift check, through the real CLI against real sandboxes) is
reported once; every page of the site is then opened from disk as a person
would open it. Marked ``browser``: ``make test-browser`` runs these
(``.ci/run`` installs ``chromium`` when it is missing); ``make test`` leaves
them out, so a machine without Chromium still runs everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.report.fleet import MODELS, Fleet, make_fleet

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# As root, and with nothing of Chromium's own reaching the network.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The fleet's report, written once for every test of this module."""
    from planner.sandbox import start_sandbox

    started: list[Any] = []

    def make_sandbox(**options: Any) -> Any:
        started.append(start_sandbox(**options))
        return started[-1]

    folder = tmp_path_factory.mktemp("report")
    try:
        fleet: Fleet = make_fleet(folder / "project", make_sandbox)
        done = fleet.report(folder / "site", "--all")
        assert done.code == 0, str(done)
    finally:
        for sandbox in started:
            sandbox.stop()
    yield folder / "site"


@dataclass
class Visit:
    """What a page did while it was open: console messages, uncaught errors, every request."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, started by Playwright with a fresh profile (a new --user-data-dir)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: Any, url: str, visit: Visit, *, viewport: dict[str, int] | None = None, scripts: bool = True) -> Any:
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900}, java_script_enabled=scripts)
    page.on("console", lambda message: visit.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
    page.on("request", lambda request: visit.requests.append(request.url))

    def refuse(route: Any) -> None:  # anything for the network is recorded and never sent
        visit.blocked.append(route.request.url)
        route.abort()

    page.route("http://**/*", refuse)
    page.route("https://**/*", refuse)
    page.goto(url, wait_until="load")
    return page


def pages_of(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_every_page_opens_without_a_console_error_and_asks_nothing_of_the_network(site: Path, browser: Any) -> None:
    assert len(pages_of(site)) == 3 + len(MODELS)
    for path in pages_of(site):
        visit = Visit()
        page = open_page(browser, path.as_uri(), visit)
        page.close()
        assert visit.console_errors == [], f"{path.name}: {visit.console_errors}"  # a style or script the policy refused would be here
        assert visit.page_errors == [], f"{path.name}: {visit.page_errors}"
        assert visit.blocked == [], f"{path.name} asked the network for {visit.blocked}"
        assert visit.requests == [path.as_uri()], f"{path.name} loaded {visit.requests}"


def test_the_first_page_names_every_environment_and_model_and_the_weakening_outside_llmplan(site: Path, browser: Any) -> None:
    visit = Visit()
    page = open_page(browser, (site / "index.html").as_uri(), visit)
    text = page.inner_text("main")
    for name in ("prod", "staging"):
        assert page.locator(f"#env-{name}-title").is_visible()
    alert = page.locator("section.alert")
    assert alert.is_visible()
    assert "Safety weakened outside llmplan" in alert.inner_text() and "bench-00002" in alert.inner_text()
    assert text.index("Safety weakened outside llmplan") < text.index("prod") < text.index("staging")  # problems first
    page.click("text=bench-00002 >> nth=0")  # the weakened model's page, one click away
    page.wait_for_load_state("load")
    assert page.title() == "bench-00002 · llmplan report"
    assert "drift found: live changed outside llmplan" in page.inner_text("main")
    page.close()
    posture = open_page(browser, (site / "posture.html").as_uri(), visit)
    matrix = posture.inner_text("table.matrix")
    for model in MODELS:
        assert model in matrix
    posture.close()
    assert visit.console_errors == [] and visit.blocked == []


def test_the_charts_are_drawn_and_described(site: Path, browser: Any) -> None:
    visit = Visit()
    page = open_page(browser, (site / "history.html").as_uri(), visit)
    timelines = page.locator("svg.chart.timeline")
    assert timelines.count() == 2
    for index in range(2):
        chart = timelines.nth(index)
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        assert chart.locator("rect").count() > 0  # bars were drawn
        assert chart.get_attribute("role") == "img"
        assert (chart.locator("desc").text_content() or "").startswith("Changes in ")
    page.click("text=The chart as a table >> nth=0")
    assert page.locator("details table").first.is_visible()
    page.close()
    posture = open_page(browser, (site / "posture.html").as_uri(), visit)
    assert posture.locator("svg.chart rect").count() > 2
    posture.close()
    assert visit.console_errors == [] and visit.blocked == []


def test_the_matrix_filters_models_with_its_script_and_shows_all_without_it(site: Path, browser: Any) -> None:
    visit = Visit()
    page = open_page(browser, (site / "posture.html").as_uri(), visit)
    rows = page.locator("table.matrix tbody tr")
    assert page.locator("#filters").is_visible()
    page.fill("#model-filter", "00003")
    assert [rows.nth(index).is_visible() for index in range(rows.count())] == [False, False, True]
    assert page.inner_text("#filter-count") == "1 of 3 models shown"
    page.fill("#model-filter", "")
    page.check("#only-differences")
    visible = [rows.nth(index).get_attribute("data-model") for index in range(rows.count()) if rows.nth(index).is_visible()]
    assert visible == ["bench-00001", "bench-00002"]  # prod's stricter pii, and the two weakenings
    page.close()

    plain = open_page(browser, (site / "posture.html").as_uri(), visit, scripts=False)
    assert not plain.locator("#filters").is_visible()  # no control that cannot work
    rows = plain.locator("table.matrix tbody tr")
    assert [rows.nth(index).is_visible() for index in range(rows.count())] == [True, True, True]
    plain.close()
    assert visit.console_errors == [] and visit.blocked == []


def test_on_a_phone_nothing_but_the_wide_tables_scrolls_sideways(site: Path, browser: Any) -> None:
    visit = Visit()
    for name in ("index.html", "posture.html", "history.html", "models/bench-00002.html"):
        page = open_page(browser, (site / name).as_uri(), visit, viewport={"width": 390, "height": 844})
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{name} is {widths[0]} px wide on a {widths[1]} px screen"
        page.close()
    assert visit.console_errors == []


def test_printed_the_navigation_goes_and_the_content_stays(site: Path, browser: Any) -> None:
    visit = Visit()
    page = open_page(browser, (site / "index.html").as_uri(), visit)
    page.emulate_media(media="print")
    assert not page.locator("header nav").is_visible()
    assert page.locator("section.alert").is_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    page.close()
    history = open_page(browser, (site / "history.html").as_uri(), visit)
    assert history.evaluate("Array.from(document.querySelectorAll('details'), d => d.open)") == [False, False]
    history.pdf(format="A4")  # printing opens the charts' tables first
    assert history.evaluate("Array.from(document.querySelectorAll('details'), d => d.open)") == [True, True]
    history.close()
    assert visit.console_errors == [] and visit.blocked == []
