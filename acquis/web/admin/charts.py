"""Bar charts drawn on the server as SVG: no script, readable inside Moodle's iframe and in print.

Each chart carries a ``<title>`` and a ``<desc>`` (what screen readers announce, through
``role="img"`` and ``aria-labelledby``), and every bar its label and value as text and as
``data-`` attributes; the page shows the same rows as a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 640
LABEL_WIDTH = 250
VALUE_WIDTH = 48
ROW = 26
BAR = 18
PAD = 8
BAR_COLOUR = "#0f6cbf"  # 5.3:1 against white
TEXT_COLOUR = "#1d2125"
MAX_LABEL = 30


def _short(label: str) -> str:
    """What fits beside a bar; the full label is in the bar's title, the table and the CSV."""
    if len(label) <= MAX_LABEL:
        return label
    if "://" in label:  # a course URL: its end (the course id) is what tells two apart
        return "…" + label[-(MAX_LABEL - 1) :]
    return label[: MAX_LABEL - 1] + "…"


def bar_chart(key: str, title: str, description: str, rows: Sequence[tuple[str, int]]) -> Markup:
    """A horizontal bar chart of ``rows`` (label, value), one bar per row, longest value full width."""
    height = PAD * 2 + ROW * max(len(rows), 1)
    top = max((value for _, value in rows), default=0)
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH - PAD
    ids = f"chart-{key}-title chart-{key}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-labelledby="{ids}" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="chart-{key}-title">{escape(title)}</title>',
        f'<desc id="chart-{key}-desc">{escape(description)}</desc>',
    ]
    for i, (label, value) in enumerate(rows):
        y = PAD + i * ROW
        length = 0 if top == 0 else max(round(span * value / top), 1 if value else 0)
        middle = y + ROW / 2 + 4
        parts.append(
            f'<g class="bar" data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(label)}: {value}</title>"
            f'<text x="{LABEL_WIDTH - PAD}" y="{middle}" text-anchor="end" fill="{TEXT_COLOUR}">'
            f"{escape(_short(label))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + (ROW - BAR) / 2}" width="{length}" height="{BAR}" '
            f'fill="{BAR_COLOUR}"/>'
            f'<text x="{LABEL_WIDTH + length + 4}" y="{middle}" fill="{TEXT_COLOUR}">{value}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped
