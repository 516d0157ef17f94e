"""Every text colour the pages' stylesheet sets reaches WCAG AA contrast (4.5:1) on its background.

The stylesheet is read from the layout template itself: a rule's text colour is checked against
the background the same rule sets, else the one its base selector sets (``.skip:focus`` on
``.skip``), else white, the page's background.
"""

from __future__ import annotations

import re
from pathlib import Path

import acquis

LAYOUT = Path(acquis.__file__).parent / "web" / "templates" / "layout.html"
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
HEX = r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b"


def _rgb(value: str) -> tuple[float, ...]:
    value = value.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    return tuple(int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))


def _luminance(value: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(value))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _rules() -> list[tuple[str, dict[str, str]]]:
    css = re.search(r"<style>(.*?)</style>", LAYOUT.read_text(encoding="utf-8"), re.S)
    assert css
    text = re.sub(r"/\*.*?\*/", "", css.group(1), flags=re.S)
    rules = []
    for selectors, body in RULE.findall(text):
        decls = {}
        for decl in body.split(";"):
            name, _, value = decl.partition(":")
            colour = re.search(HEX, value)
            if colour and name.strip() in ("color", "background"):
                decls[name.strip()] = "#" + colour.group(1)
        for selector in selectors.split(","):
            rules.append((selector.strip(), decls))
    return rules


def test_contrast_formula_against_known_pairs() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # the classic just-failing grey


def test_every_text_colour_of_the_stylesheet_reaches_4_5_to_1() -> None:
    rules = _rules()
    backgrounds = {sel: d["background"] for sel, d in rules if "background" in d}
    checked = []
    for selector, decls in rules:
        if "color" not in decls:
            continue
        base = re.split(r":(?!:)", selector)[0]
        background = decls.get("background") or backgrounds.get(base) or "#ffffff"
        ratio = contrast(decls["color"], background)
        checked.append(selector)
        assert ratio >= 4.5, f"{selector}: {decls['color']} on {background} is {ratio:.2f}:1"
    assert len(checked) >= 10  # the check did read the stylesheet
