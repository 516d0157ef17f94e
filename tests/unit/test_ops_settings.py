"""The operational settings are validated at start-up with a message that says what to set."""

from __future__ import annotations

import pytest

from acquis.core.errors import ConfigurationError
from acquis.core.settings import Settings


def test_defaults_and_values() -> None:
    s = Settings.from_env({"ACQUIS_INSTANCE_PATH": "/tmp/acquis-ops"})
    assert (s.log_format, s.ingest_rate_limit, s.metrics_token) == ("text", 60_000, None)
    s = Settings.from_env(
        {
            "ACQUIS_INSTANCE_PATH": "/tmp/acquis-ops",
            "ACQUIS_LOG_FORMAT": "JSON",
            "ACQUIS_INGEST_RATE_LIMIT": "0",
            "ACQUIS_METRICS_TOKEN": "a" * 16,
        }
    )
    assert (s.log_format, s.ingest_rate_limit, s.metrics_token) == ("json", 0, "a" * 16)
    assert "a" * 16 not in repr(s)  # the token stays out of logs and tracebacks


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ACQUIS_LOG_FORMAT", "xml", "use 'text' or 'json'"),
        ("ACQUIS_INGEST_RATE_LIMIT", "fast", "statements per minute"),
        ("ACQUIS_INGEST_RATE_LIMIT", "-5", "0 \\(no limit\\) or more"),
        ("ACQUIS_METRICS_TOKEN", "short", "at least 16 characters"),
    ],
)
def test_bad_values_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({"ACQUIS_INSTANCE_PATH": "/tmp/acquis-ops", name: value})
