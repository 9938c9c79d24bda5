"""Bar charts as SVG geometry, drawn server-side (stats_macros.html renders them).

Pure: labels and one or more series of counts in, rectangles, axis ticks and text
positions out, so a chart is plain markup that prints, needs no script and holds under a
strict Content Security Policy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 28


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    label: str
    value: int


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    x_labels: tuple[tuple[float, str], ...]  # (x of the label's middle, text)
    y_ticks: tuple[tuple[float, int], ...]  # (y, value)
    series: tuple[str, ...]
    plot_left: int
    plot_bottom: int


def _nice_top(value: int) -> int:
    """The axis's top: `value` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Sequence[int]],
              names: Sequence[str] = ()) -> Chart:
    """Bars for `labels`, one per series side by side in each slot."""
    top = _nice_top(max((v for s in series for v in s), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar_w = slot * 0.8 / max(len(series), 1)
    bars = []
    for s, values in enumerate(series):
        for i, value in enumerate(values):
            h = plot_h * value / top
            x = LEFT + i * slot + slot * 0.1 + s * bar_w
            bars.append(Bar(round(x, 1), round(TOP + plot_h - h, 1), round(bar_w, 1),
                            round(h, 1), s, labels[i], value))
    x_labels = tuple((round(LEFT + (i + 0.5) * slot, 1), label) for i, label in enumerate(labels))
    ticks = tuple((round(TOP + plot_h - plot_h * f, 1), round(top * f)) for f in (0, 0.5, 1)
                  if float(top * f).is_integer())
    return Chart(title, WIDTH, HEIGHT, tuple(bars), x_labels, ticks, tuple(names),
                 LEFT, TOP + plot_h)
