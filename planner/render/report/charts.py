"""The geometry of the report's charts, as plain data the templates draw as inline SVG.

No JavaScript draws anything: every bar is a rectangle computed here, with
its own ``<title>`` text, and every chart has a table of the same numbers
beside it. Colour is never the only signal: each series also has its own
fill pattern (solid, stripes, cross-hatch, dots) and its name in the legend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from planner.model.report import ABSENT, LEVELS, MEDIUM, STRONG, WEAK, DayCount, EnvironmentStatus

# (series, legend text, pattern): what the timeline stacks, bottom first
TIMELINE_SERIES = (
    ("applied", "applied", "solid"),
    ("weakenings", "weakening allowed", "stripes"),
    ("failed", "failed", "cross"),
    ("drift", "drift found", "dots"),
)
LEVEL_SERIES = (
    (STRONG, "strong", "solid"),
    (MEDIUM, "medium", "stripes"),
    (WEAK, "weak", "cross"),
    (ABSENT, "none", "dots"),
)
PATTERNS = ("solid", "stripes", "cross", "dots")


@dataclass(frozen=True)
class Bar:
    """One rectangle: a series' share of one day (or one environment)."""

    series: str
    pattern: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Column:
    """One day of the timeline: its stacked bars and what they say in words."""

    day: str
    label: str  # the day's numbers in words (the bar's <title>)
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    plot_top: float
    plot_bottom: float
    columns: tuple[Column, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    peak: int
    summary: str  # the chart in one sentence (its <desc>)


LEFT, RIGHT, TOP, BOTTOM = 34.0, 8.0, 10.0, 24.0


def _day_words(day: DayCount) -> str:
    parts = [f"{getattr(day, series)} {text}" for series, text, _ in TIMELINE_SERIES if getattr(day, series)]
    return f"{day.day}: " + (", ".join(parts) if parts else "nothing recorded")


def timeline(days: Sequence[DayCount], *, name: str) -> Timeline:
    """Stacked bars per day: applied, weakenings allowed, failed, drift found."""
    step = 20.0 if len(days) <= 40 else max(2.0, 800.0 / max(len(days), 1))
    width = int(LEFT + RIGHT + step * max(len(days), 1))
    height = 150
    bottom = height - BOTTOM
    peak = max((day.total for day in days), default=0)
    scale = (bottom - TOP) / peak if peak else 0.0
    columns = []
    for index, day in enumerate(days):
        x = LEFT + index * step + step * 0.15
        y = bottom
        bars = []
        for series, _, pattern in TIMELINE_SERIES:
            value = getattr(day, series)
            if value:
                tall = value * scale
                y -= tall
                bars.append(Bar(series, pattern, round(x, 2), round(y, 2), round(step * 0.7, 2), round(tall, 2)))
        columns.append(Column(day.day, _day_words(day), tuple(bars)))
    marks = sorted({0, len(days) // 2, len(days) - 1}) if days else []
    x_ticks = tuple(Tick(round(LEFT + index * step + step / 2, 2), height - 8, days[index].day[5:]) for index in marks)
    y_ticks = tuple(Tick(LEFT - 4, round(bottom - value * scale, 2) + 4, str(value)) for value in sorted({0, peak}))
    totals = {series: sum(getattr(day, series) for day in days) for series, _, _ in TIMELINE_SERIES}
    said = ", ".join(f"{totals[series]} {text}" for series, text, _ in TIMELINE_SERIES)
    first, last = (days[0].day, days[-1].day) if days else ("", "")
    summary = f"Changes in {name} per day from {first} to {last}: {said}; the busiest day had {peak}."
    return Timeline(width, height, TOP, bottom, tuple(columns), x_ticks, y_ticks, peak, summary)


@dataclass(frozen=True)
class LevelRow:
    """One environment's share of settings at each strength level."""

    name: str
    counts: tuple[tuple[str, int], ...]  # (level, count), strongest first
    bars: tuple[Bar, ...]
    y: float
    label: str


@dataclass(frozen=True)
class LevelChart:
    width: int
    height: int
    rows: tuple[LevelRow, ...]
    summary: str


def level_counts(environment: EnvironmentStatus, columns: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """How many (model, column) settings of an environment sit at each level."""
    counts = dict.fromkeys(LEVELS, 0)
    for posture in environment.posture:
        for column in columns:
            counts[posture.setting(column).level] += 1
    return tuple(counts.items())


def levels(environments: Sequence[EnvironmentStatus], columns: Sequence[str]) -> LevelChart:
    """A horizontal stacked bar per environment: its settings by strength (100 % wide)."""
    label_width, bar_width, row_height = 110.0, 400.0, 26.0
    rows = []
    for index, environment in enumerate(environments):
        counts = level_counts(environment, columns)
        total = sum(count for _, count in counts)
        x, y = label_width, 6 + index * row_height
        bars = []
        for (level, count), (_, _, pattern) in zip(counts, LEVEL_SERIES, strict=True):
            if count and total:
                wide = bar_width * count / total
                bars.append(Bar(level, pattern, round(x, 2), y, round(wide, 2), row_height - 8))
                x += wide
        words = ", ".join(f"{count} {text}" for (_, count), (_, text, _) in zip(counts, LEVEL_SERIES, strict=True))
        rows.append(LevelRow(environment.name, counts, tuple(bars), y, f"{environment.name}: {words}"))
    height = int(12 + row_height * max(len(rows), 1))
    summary = "Safety settings of each environment by strength: " + "; ".join(row.label for row in rows) + "."
    return LevelChart(int(label_width + bar_width + 10), height, tuple(rows), summary)
