"""Server-rendered SVG charts for the economy page: no script, scaled by their viewBox, so one
drawing fits 1280 px and 390 px alike. Each has a <title> and <desc> (role="img"), and the page
puts the table of its numbers beside it; colours come from CSS classes (economy.css)."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = 8  # .eco-c0 … .eco-c7
Number = int | Decimal


def _fmt(value: Number) -> str:
    return f"{value:,}"


def _svg(title: Any, desc: Any, width: int, height: int, body: list[str]) -> SafeString:
    head = (
        f'<svg class="eco-chart" role="img" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>"
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 (every text escaped above)


def columns(title: Any, desc: Any, points: Sequence[tuple[str, Number]]) -> SafeString:
    """Vertical bars, one per point (days): a label under every few bars, the maximum on top."""
    width, height, left, bottom = 360, 180, 4, 24
    top = max([v for _, v in points] + [0]) or 1
    step = (width - left * 2) / max(len(points), 1)
    every = max(1, round(len(points) / 5))
    body = [f'<line class="eco-axis" x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}"/>']
    for i, (label, value) in enumerate(points):
        h = float(value) / float(top) * (height - bottom - 24)
        x = left + i * step
        body.append(
            f'<rect class="eco-c0" x="{x + step * 0.1:.1f}" y="{height - bottom - h:.1f}" '
            f'width="{step * 0.8:.1f}" height="{h:.1f}"><title>{escape(label)}: {_fmt(value)}</title></rect>'
        )
        if i % every == 0:
            anchor = "start" if i == 0 else "middle"  # the first label would be cut at the edge
            body.append(
                f'<text class="eco-tick" x="{x + (step / 2 if i else 0):.1f}" y="{height - 8}" text-anchor="{anchor}">'
                f"{escape(label)}</text>"
            )
    body.append(f'<text class="eco-tick" x="{left}" y="14">{_fmt(top)}</text>')
    return _svg(title, desc, width, height, body)


def bars(title: Any, desc: Any, items: Sequence[tuple[str, Number]]) -> SafeString:
    """Horizontal bars, one per item, the label above its bar and the value at its end."""
    width, row = 360, 40
    height = max(len(items), 1) * row + 8
    top = max([v for _, v in items] + [0]) or 1
    body = []
    for i, (label, value) in enumerate(items):
        y = i * row + 4
        w = float(value) / float(top) * (width - 110)
        body.append(f'<text class="eco-label" x="0" y="{y + 12}">{escape(label)}</text>')
        body.append(f'<rect class="eco-c{i % PALETTE}" x="0" y="{y + 17}" width="{w:.1f}" height="16"/>')
        body.append(f'<text class="eco-value" x="{w + 6:.1f}" y="{y + 30}">{_fmt(value)}</text>')
    return _svg(title, desc, width, height, body)


def stacked(title: Any, desc: Any, stacks: Sequence[tuple[str, Sequence[tuple[str, Number]]]]) -> SafeString:
    """One horizontal bar per stack, split into its parts on one scale (the largest stack fills
    the width), with a legend under each bar naming every part and its value (one per line: 390 px)."""
    width, bar = 360, 22
    top = max([sum(v for _, v in parts) for _, parts in stacks] + [0]) or 1
    body: list[str] = []
    y = 4
    colour = 0
    for label, parts in stacks:
        total = sum(v for _, v in parts)
        body.append(f'<text class="eco-label" x="0" y="{y + 12}">{escape(label)}: {_fmt(total)}</text>')
        x = 0.0
        first = colour
        for name, value in parts:
            w = float(value) / float(top) * width
            body.append(
                f'<rect class="eco-c{colour % PALETTE}" x="{x:.1f}" y="{y + 18}" width="{w:.1f}" height="{bar}">'
                f"<title>{escape(name)}: {_fmt(value)}</title></rect>"
            )
            x += w
            colour += 1
        y += 18 + bar + 8
        for j, (name, value) in enumerate(parts):
            ly = y + j * 18
            body.append(f'<rect class="eco-c{(first + j) % PALETTE}" x="0" y="{ly + 2}" width="11" height="11"/>')
            body.append(f'<text class="eco-legend" x="17" y="{ly + 12}">{escape(name)}: {_fmt(value)}</text>')
        y += len(parts) * 18 + 12
    return _svg(title, desc, width, y, body)
