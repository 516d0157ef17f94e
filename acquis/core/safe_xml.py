"""The one way acquis parses XML it did not write: no DTD, no entities, no network, no huge trees.

XML comes from remote systems (Karuta answers today; anything an adapter reads tomorrow). A
parser left at its defaults may read local files through external entities (XXE), fetch URLs,
or expand nested entities until memory runs out ("billion laughs"). Every parse goes through
``parse`` below, and a document that declares a DOCTYPE at all is refused: none of the formats
acquis reads needs one, so refusing is simpler and safer than deciding which DTDs are harmless.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from acquis.core.errors import InvalidInput

# Documents larger than this are refused before parsing (a Karuta portfolio is a few hundred KB).
MAX_XML_BYTES = 20 * 1024 * 1024


class UnsafeXML(InvalidInput):
    """The document is not XML acquis accepts (malformed, too large, or declaring a DTD)."""


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not safe to share between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_pis=True,
    )


def parse(data: bytes) -> etree._Element:
    """The root element of ``data``; raises UnsafeXML for anything else."""
    if len(data) > MAX_XML_BYTES:
        raise UnsafeXML(f"the XML document is larger than {MAX_XML_BYTES} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        # Refused before lxml sees it: no entity is declared, so none can be resolved or expanded.
        raise UnsafeXML("XML documents declaring a DOCTYPE or entities are refused")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXML(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise UnsafeXML("the XML document is empty")
    docinfo: Any = root.getroottree().docinfo  # lxml-stubs lack DocInfo.doctype
    if docinfo.doctype or docinfo.internalDTD is not None:  # e.g. declared in UTF-16
        raise UnsafeXML("XML documents declaring a DOCTYPE or entities are refused")
    return root
