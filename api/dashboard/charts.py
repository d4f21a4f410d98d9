"""Line charts drawn as inline SVG on the server: no script, no library, nothing fetched.

A chart is data (series of points, reference lines, highlighted points) turned into a layout of
pixel positions here; templates/_chart.html draws the layout. Every point carries its value in
``data-x``/``data-y`` and a ``<title>`` (a tooltip, read by screen readers), the SVG has a title and a
description, and the page shows the same numbers in a table, so the chart is never the only way in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44
SERIES_STYLES = 8


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Series:
    key: str
    name: str
    points: list[Point]


@dataclass(frozen=True)
class RefLine:
    name: str
    y: float


@dataclass(frozen=True)
class LineChart:
    chart_id: str
    title: str
    description: str
    x_label: str
    y_label: str
    series: list[Series]
    ref_lines: list[RefLine] = field(default_factory=list)
    highlighted: list[Point] = field(default_factory=list)
    highlight_name: str = ""
    integer_x: bool = False
    y_floor: float | None = None
    y_ceiling: float | None = None
    fmt: Callable[[float], str] = lambda value: f"{value:.3g}"


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class PlacedPoint:
    cx: float
    cy: float
    point: Point


@dataclass(frozen=True)
class PlacedSeries:
    key: str
    name: str
    style: int
    path: str
    points: list[PlacedPoint]


@dataclass(frozen=True)
class PlacedLine:
    name: str
    y: float
    py: float


@dataclass(frozen=True)
class ChartLayout:
    """Pixel positions for templates/_chart.html (the viewBox is WIDTH x HEIGHT)."""

    chart: LineChart
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[PlacedSeries]
    ref_lines: list[PlacedLine]
    highlighted: list[PlacedPoint]
    empty: bool

    def table(self) -> list[tuple[str, list[str]]]:
        """The chart's numbers as rows (one per x value, a cell per series, "-" where it has none): the
        table the page offers beside the chart."""
        by_series = [{p.point.x: p.point.y for p in series.points} for series in self.series]
        xs = sorted({x for values in by_series for x in values})
        return [
            (f"{x:g}", [self.chart.fmt(values[x]) if x in values else "-" for values in by_series])
            for x in xs
        ]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 times a power of ten) covering ``low``..``high``."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if (high - low) / (m * magnitude) <= count)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 10) for k in range(int((high - first) / step + 1e-9) + 1)]


def _domain(values: Sequence[float], floor: float | None, ceiling: float | None) -> tuple[float, float]:
    """The data's range with a little room; a floor or ceiling (a reward's 0 and 1) bounds the axis
    exactly when all the data is on its side of it."""
    data_low, data_high = (min(values), max(values)) if values else (0.0, 1.0)
    low, high = (data_low - 0.5, data_high + 0.5) if data_high - data_low < 1e-9 else (data_low, data_high)
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    if floor is not None and data_low >= floor:
        low = floor
    if ceiling is not None and data_high <= ceiling:
        high = ceiling
    return low, high


def layout(chart: LineChart) -> ChartLayout:
    """Scales the chart's data into the SVG's viewBox."""
    xs = [point.x for series in chart.series for point in series.points]
    ys = [point.y for series in chart.series for point in series.points] + [
        line.y for line in chart.ref_lines
    ]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_low, y_high = _domain(ys, chart.y_floor, chart.y_ceiling)
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM

    def px(x: float) -> float:
        return round(LEFT + (x - x_low) / (x_high - x_low) * (right - LEFT), 2)

    def py(y: float) -> float:
        return round(bottom - (y - y_low) / (y_high - y_low) * (bottom - TOP), 2)

    x_values = nice_ticks(x_low, x_high, 10 if chart.integer_x else 6)
    if chart.integer_x:
        x_values = [value for value in x_values if value == int(value)]
    x_ticks = [Tick(px(v), f"{int(v)}" if v == int(v) else f"{v:g}") for v in x_values]
    y_ticks = [Tick(py(v), chart.fmt(v)) for v in nice_ticks(y_low, y_high)]
    placed = []
    for index, series in enumerate(chart.series):
        points = [PlacedPoint(px(p.x), py(p.y), p) for p in sorted(series.points, key=lambda p: p.x)]
        path = " ".join(f"{'M' if k == 0 else 'L'}{p.cx},{p.cy}" for k, p in enumerate(points))
        placed.append(PlacedSeries(series.key, series.name, index % SERIES_STYLES, path, points))
    return ChartLayout(
        chart=chart,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=right,
        top=TOP,
        bottom=bottom,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        series=placed,
        ref_lines=[PlacedLine(line.name, line.y, py(line.y)) for line in chart.ref_lines],
        highlighted=[PlacedPoint(px(p.x), py(p.y), p) for p in chart.highlighted],
        empty=not xs,
    )


@dataclass(frozen=True)
class Interval:
    """One comparison: an estimate and its bounds, drawn as a bar with a dot, its decision as a class."""

    key: str
    label: str
    estimate: float
    lower: float
    upper: float
    decision: str


@dataclass(frozen=True)
class IntervalChart:
    """Estimates with their intervals, one row each, against a zero line and a margin line."""

    chart_id: str
    title: str
    description: str
    x_label: str
    rows: list[Interval]
    margin: float | None = None


@dataclass(frozen=True)
class PlacedInterval:
    interval: Interval
    y: float
    x_estimate: float
    x_lower: float
    x_upper: float


@dataclass(frozen=True)
class IntervalLayout:
    """Pixel positions for the ``intervals`` macro: a row of ``ROW_HEIGHT`` per interval."""

    chart: IntervalChart
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    ticks: list[Tick]
    rows: list[PlacedInterval]
    zero: float
    margin: float | None


ROW_HEIGHT = 28
INTERVAL_LEFT = 96


def interval_layout(chart: IntervalChart) -> IntervalLayout:
    """Scales the intervals (and 0 and the margin, always shown) onto one horizontal axis."""
    values = [0.0, *(v for row in chart.rows for v in (row.lower, row.upper, row.estimate))]
    if chart.margin is not None:
        values.append(chart.margin)
    low, high = _domain(values, -1.0, 1.0)
    height = TOP + ROW_HEIGHT * max(1, len(chart.rows)) + BOTTOM
    right, bottom = WIDTH - RIGHT, height - BOTTOM

    def px(x: float) -> float:
        return round(INTERVAL_LEFT + (x - low) / (high - low) * (right - INTERVAL_LEFT), 2)

    rows = [
        PlacedInterval(row, TOP + ROW_HEIGHT * (k + 0.5), px(row.estimate), px(row.lower), px(row.upper))
        for k, row in enumerate(chart.rows)
    ]
    return IntervalLayout(
        chart=chart,
        width=WIDTH,
        height=height,
        left=INTERVAL_LEFT,
        right=right,
        top=TOP,
        bottom=bottom,
        ticks=[Tick(px(v), f"{v:+.2f}" if v else "0") for v in nice_ticks(low, high)],
        rows=rows,
        zero=px(0.0),
        margin=px(chart.margin) if chart.margin is not None else None,
    )
