"""Secrets are masked in every log record, whatever logged them."""

from __future__ import annotations

import logging

import pytest

from acquis.core.logs import MASK, RedactingFilter, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("GET /webservice/rest/server.php?wstoken=abcdef0123456789&wsfunction=x", "abcdef0123456789"),
        (
            "headers={'Authorization': 'Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig'}",
            "eyJhbGciOiJSUzI1NiJ9.payload.sig",
        ),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ('body {"client_secret": "s3cr3t-Value", "grant_type": "client_credentials"}', "s3cr3t-Value"),
        ("login password=hunter2&username=admin", "hunter2"),
        ("key -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----", "MIIEvQIBADANBg"),
    ],
)
def test_redact_masks_credentials(line: str, secret: str) -> None:
    cleaned = redact(line)
    assert secret not in cleaned and MASK in cleaned


def test_redact_leaves_ordinary_text_alone() -> None:
    line = "issued badge 42 to learner 7 (grant_type=client_credentials)"
    assert redact(line) == line


def test_filter_masks_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("acquis.test.redaction")
    caplog.handler.addFilter(RedactingFilter())
    try:
        logger.warning("calling %s", "https://obf.test/?access_token=tok_123456789")
        try:
            raise RuntimeError("401 for token=tok_987654321")
        except RuntimeError:
            logger.exception("delivery failed")
    finally:
        caplog.handler.filters.clear()
    assert "tok_123456789" not in caplog.text and "tok_987654321" not in caplog.text
    assert caplog.text.count(MASK) >= 2
