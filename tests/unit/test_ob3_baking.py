"""Baking by hand (OB 2.0 and 3.0, SVG and PNG), checked with 1EdTech's openbadges-bakery."""

from __future__ import annotations

import io
import json

import openbadges_bakery as bakery  # in the "test" extra: a missing one is an error, not a skip
import png
import pytest

from acquis.plugins.openbadges import baking, image

URL = "https://acquis.example.fr/ob/v2/assertions/a1"


def test_svg_survives_a_cdata_terminator_in_the_assertion() -> None:
    assertion = {"id": URL, "evidence": [{"narrative": "tricky ]]> text <b>&</b>"}]}
    baked = baking.bake_svg(image.svg("C1", "Novice", 1), URL, assertion)
    assert bakery.unbake(io.BytesIO(baked.encode())) == URL
    cdata = baked.split("<![CDATA[", 1)[1].rsplit("]]>", 1)[0]
    assert json.loads(cdata) == assertion


def test_png_rebaking_replaces_the_previous_assertion() -> None:
    once = baking.bake_png(baking.disc_png("#2563eb"), "openbadges", URL)
    twice = baking.bake_png(once, "openbadges", URL + "-2")
    assert bakery.unbake(io.BytesIO(twice)) == URL + "-2"
    kinds = [kind for kind, _ in png.Reader(bytes=twice).chunks()]
    assert kinds == [b"IHDR", b"iTXt", b"IDAT", b"IEND"]
    # 2.0 and 3.0 chunks are distinct keywords: both may live in one file.
    both = baking.bake_png(once, "openbadgecredential", "a.b.c")
    assert [k for k, _ in png.Reader(bytes=both).chunks()].count(b"iTXt") == 2
    assert bakery.unbake(io.BytesIO(both)) == URL


def test_not_a_png_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        baking.bake_png(b"GIF89a", "openbadges", URL)
