"""Every XML parse goes through the hardened parser: XXE and entity bombs are refused, unread."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lxml import etree

from acquis.core import safe_xml
from tests.conftest import REPO

SECRET = "root-secret-7f3a9c"


def _xxe(path: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE portfolio [<!ENTITY x SYSTEM "file://{path}">]>\n'
        "<portfolio><code>&x;</code></portfolio>"
    ).encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""


def test_the_xxe_payload_really_reads_the_file_with_a_permissive_parser(tmp_path: Path) -> None:
    """The payload is live: a parser resolving entities would leak the file (the control)."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    permissive = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=True)
    assert SECRET in etree.tostring(etree.fromstring(_xxe(secret), permissive)).decode()


def test_an_xxe_payload_is_refused_without_reading_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    with pytest.raises(safe_xml.UnsafeXML, match="DOCTYPE") as err:
        safe_xml.parse(_xxe(secret))
    assert SECRET not in str(err.value)


def test_a_billion_laughs_is_refused() -> None:
    with pytest.raises(safe_xml.UnsafeXML, match="DOCTYPE"):
        safe_xml.parse(BILLION_LAUGHS)


def test_a_doctype_hidden_by_another_encoding_is_still_refused(tmp_path: Path) -> None:
    """UTF-16 hides the ASCII ``<!DOCTYPE`` from the byte check: the parsed tree's docinfo catches it."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    payload = (
        _xxe(secret).decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    )
    with pytest.raises(safe_xml.UnsafeXML) as err:
        safe_xml.parse(payload.encode("utf-16"))
    assert SECRET not in str(err.value)
    bomb = BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    with pytest.raises(safe_xml.UnsafeXML):
        safe_xml.parse(bomb.encode("utf-16"))


def test_ordinary_and_broken_documents() -> None:
    root = safe_xml.parse(
        b'<?xml version="1.0" encoding="UTF-8"?><portfolio id="p"><code>c</code></portfolio>'
    )
    assert root.tag == "portfolio" and root.findtext("code") == "c"
    with pytest.raises(safe_xml.UnsafeXML, match="not well-formed"):
        safe_xml.parse(b"<portfolio><code></portfolio>")
    with pytest.raises(safe_xml.UnsafeXML, match="larger than"):
        safe_xml.parse(b"<a>" + b"x" * safe_xml.MAX_XML_BYTES + b"</a>")


def test_no_other_module_parses_xml_itself() -> None:
    """The hardened parser is the only XML parse in acquis (grep, as a reviewer would)."""
    found = subprocess.run(
        [
            "grep",
            "-rnE",
            r"fromstring|XMLParser|etree\.parse|ElementTree|minidom|xml\.sax\.(make_parser|parse)|expat",
            "acquis",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    assert [line for line in found if not line.startswith("acquis/core/safe_xml.py")] == []


def test_yaml_is_only_ever_safe_loaded() -> None:
    found = subprocess.run(
        [
            "grep",
            "-rnE",
            r"yaml\.(load|full_load|unsafe_load|load_all)\(|yaml\.Loader|UnsafeLoader",
            "acquis",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert found == ""
