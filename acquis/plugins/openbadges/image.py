"""A generated SVG badge image: a level-coloured disc with the competency and level written on it."""

from __future__ import annotations

from xml.sax.saxutils import escape

LEVEL_COLOURS = ("#6b7280", "#2563eb", "#059669", "#d97706", "#b91c1c", "#7c3aed")


def svg(title: str, level_label: str, rank: int) -> str:
    colour = LEVEL_COLOURS[min(max(rank, 0), len(LEVEL_COLOURS) - 1)]
    short = title if len(title) <= 22 else title[:21] + "…"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256" '
        f'role="img" aria-label="{escape(title)} — {escape(level_label)}">'
        f'<circle cx="128" cy="128" r="120" fill="{colour}"/>'
        '<circle cx="128" cy="128" r="100" fill="none" stroke="#fff" stroke-width="4"/>'
        '<text x="128" y="120" font-family="sans-serif" font-size="18" fill="#fff" '
        f'text-anchor="middle">{escape(short)}</text>'
        '<text x="128" y="152" font-family="sans-serif" font-size="22" font-weight="bold" fill="#fff" '
        f'text-anchor="middle">{escape(level_label)}</text>'
        "</svg>"
    )
