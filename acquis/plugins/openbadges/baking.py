"""Baked SVG badges (Open Badges 2.0 baking specification, SVG section).

A baked image carries its assertion, so the file alone leads a verifier back to the hosted
assertion: an ``<openbadges:assertion verify="<assertion URL>">`` element, first child of the root,
with the assertion JSON in a CDATA section. Done by string insertion rather than an XML library
because the image is ours (``image.svg``) and has a known, flat shape.
"""

from __future__ import annotations

import functools
import json
import math
import struct
import zlib
from typing import Any
from xml.sax.saxutils import quoteattr

NAMESPACE = "http://openbadges.org"
NAMESPACE_V3 = "https://purl.imsglobal.org/ob/v3p0"


def _insert(svg: str, namespace: str, element: str) -> str:
    """Declare the namespace on the root and put the element first inside it."""
    start = svg.index("<svg")
    end = svg.index(">", start)
    root = svg[start:end]
    if "xmlns:openbadges=" not in root:
        root += f' xmlns:openbadges="{namespace}"'
    return svg[:start] + root + ">" + element + svg[end + 1 :]


def bake_svg(svg: str, assertion_url: str, assertion: dict[str, Any]) -> str:
    """OB 2.0, hosted verification: ``verify`` is the assertion URL, the JSON rides along."""
    # "]]>" would end the CDATA early; escaping ">" keeps the JSON equal and the section whole.
    payload = json.dumps(assertion, ensure_ascii=False).replace(">", "\\u003e")
    element = (
        f"<openbadges:assertion verify={quoteattr(assertion_url)}>"
        f"<![CDATA[{payload}]]></openbadges:assertion>"
    )
    return _insert(svg, NAMESPACE, element)


def bake_svg_credential(svg: str, jwt: str) -> str:
    """OB 3.0: a credential secured as a VC-JWT goes whole in the ``verify`` attribute."""
    return _insert(
        svg, NAMESPACE_V3, f"<openbadges:credential verify={quoteattr(jwt)}></openbadges:credential>"
    )


# PNG ------------------------------------------------------------------------------------------
# Many platforms (social networks, some backpacks) take PNG only. Pillow is not a dependency and
# nothing here can rasterise the SVG's text, so the PNG is the level-coloured disc and ring of
# the SVG without the words; written by hand (zlib + CRC), it needs no imaging library.

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=16)
def disc_png(colour: str, size: int = 256) -> bytes:
    """An RGBA PNG: a disc of ``colour`` (#rrggbb) with a white ring, transparent around it."""
    fill = bytes.fromhex(colour.lstrip("#")) + b"\xff"
    white, clear = b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"
    centre, outer, ring_in, ring_out = (size - 1) / 2, size * 120 / 256, size * 98 / 256, size * 102 / 256
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type None
        for x in range(size):
            d = math.hypot(x - centre, y - centre)
            rows += clear if d > outer else white if ring_in <= d <= ring_out else fill
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def bake_png(png: bytes, keyword: str, text: str) -> bytes:
    """Add an uncompressed iTXt chunk right after IHDR (any previous one of that keyword dropped).

    ``keyword`` is "openbadges" (2.0: the assertion URL) or "openbadgecredential" (3.0: the JWT).
    """
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    chunks: list[bytes] = []
    pos = len(PNG_SIGNATURE)
    marker = keyword.encode() + b"\x00"
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind in (b"iTXt", b"tEXt", b"zTXt") and data.startswith(marker):
            continue
        chunks.append(_chunk(kind, data))
        if kind == b"IHDR":
            # keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword
            chunks.append(_chunk(b"iTXt", marker + b"\x00\x00\x00\x00" + text.encode()))
    return PNG_SIGNATURE + b"".join(chunks)
