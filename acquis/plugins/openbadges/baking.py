"""Baked SVG badges (Open Badges 2.0 baking specification, SVG section).

A baked image carries its assertion, so the file alone leads a verifier back to the hosted
assertion: an ``<openbadges:assertion verify="<assertion URL>">`` element, first child of the root,
with the assertion JSON in a CDATA section. Done by string insertion rather than an XML library
because the image is ours (``image.svg``) and has a known, flat shape.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import quoteattr

NAMESPACE = "http://openbadges.org"


def bake_svg(svg: str, assertion_url: str, assertion: dict[str, Any]) -> str:
    start = svg.index("<svg")
    end = svg.index(">", start)
    root = svg[start:end]
    if "xmlns:openbadges=" not in root:
        root += f' xmlns:openbadges="{NAMESPACE}"'
    # "]]>" would end the CDATA early; escaping ">" keeps the JSON equal and the section whole.
    payload = json.dumps(assertion, ensure_ascii=False).replace(">", "\\u003e")
    element = (
        f"<openbadges:assertion verify={quoteattr(assertion_url)}>"
        f"<![CDATA[{payload}]]></openbadges:assertion>"
    )
    return svg[:start] + root + ">" + element + svg[end + 1 :]
