"""Secrets at rest and configuration from the environment."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text

from acquis.core import crypto, establishments
from acquis.core.db import Database
from acquis.core.errors import ConfigurationError
from acquis.core.models import AdapterConfig
from acquis.core.settings import Settings
from tests.conftest import TEST_KEY

PLAINTEXT = "s3cr3t-value"


@pytest.fixture
def keyring() -> Iterator[None]:
    """For tests that change the process-wide keyring: the session's key is put back afterwards."""
    try:
        yield
    finally:
        crypto.configure((TEST_KEY,))


def _settings(tmp_path: Path, keys: tuple[str, ...] = ()) -> Settings:
    return Settings(
        instance_path=tmp_path / "instance", database_url="sqlite://", public_url="http://x", secret_keys=keys
    )


# --- EncryptedJSON in the database ----------------------------------------------------------------------


def _store(db: Database, secrets: dict[str, Any] | None) -> int:
    with db.session() as s:
        est, _ = establishments.create(s, "univ-a", "Université A", default_adapters=())
        cfg = AdapterConfig(establishment_id=est.id, adapter="obf", secrets=secrets)
        s.add(cfg)
        s.flush()
        return cfg.id


def _raw(db: Database, config_id: int) -> str | None:
    with db.engine.connect() as conn:
        value = conn.execute(
            text("SELECT secrets FROM adapter_config WHERE id = :id"), {"id": config_id}
        ).scalar()
    assert value is None or isinstance(value, str)
    return value


def test_secrets_round_trip_and_are_unreadable_in_the_database(db: Database) -> None:
    secrets = {"token": PLAINTEXT, "client": {"id": "abc-123", "scopes": ["read", "écrire"]}}
    config_id = _store(db, secrets)
    with db.session() as s:
        cfg = s.get(AdapterConfig, config_id)
        assert cfg is not None
        assert cfg.secrets == secrets
    raw = _raw(db, config_id)
    assert raw is not None
    for clear in (PLAINTEXT, "token", "abc-123", "scopes"):
        assert clear not in raw
    # What is stored is one Fernet token under the configured key, holding the JSON document.
    assert json.loads(Fernet(TEST_KEY.encode()).decrypt(raw.encode())) == secrets


def test_no_secrets_is_stored_as_null(db: Database) -> None:
    config_id = _store(db, None)
    assert _raw(db, config_id) is None
    with db.session() as s:
        cfg = s.get(AdapterConfig, config_id)
        assert cfg is not None
        assert cfg.secrets is None


def test_secrets_written_under_an_old_key_are_read_after_rotation(db: Database, keyring: None) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    crypto.configure((old,))
    config_id = _store(db, {"token": PLAINTEXT})
    crypto.configure((new, old))  # newest first
    with db.session() as s:
        cfg = s.get(AdapterConfig, config_id)
        assert cfg is not None
        assert cfg.secrets == {"token": PLAINTEXT}
        cfg.secrets = {"token": "rotated"}  # rewritten: now under the new key
    raw = _raw(db, config_id)
    assert raw is not None
    assert json.loads(Fernet(new.encode()).decrypt(raw.encode())) == {"token": "rotated"}
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(raw.encode())


def test_secrets_under_a_removed_key_give_a_configuration_error(db: Database, keyring: None) -> None:
    config_id = _store(db, {"token": PLAINTEXT})
    crypto.configure((Fernet.generate_key().decode(),))
    with db.session() as s, pytest.raises(ConfigurationError, match="was a key removed"):
        s.get(AdapterConfig, config_id)


# --- keys and rotation ------------------------------------------------------------------------------------


def test_encrypt_decrypt_round_trip_with_fresh_tokens() -> None:
    first, second = crypto.encrypt(PLAINTEXT), crypto.encrypt(PLAINTEXT)
    assert first != second  # a random IV per token: equal secrets do not look equal
    assert PLAINTEXT not in first
    assert crypto.decrypt(first) == crypto.decrypt(second) == PLAINTEXT
    assert crypto.decrypt(crypto.encrypt("é ✓ 🔑")) == "é ✓ 🔑"


def test_rotation_decrypts_old_tokens_and_encrypts_with_the_newest_key(keyring: None) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    crypto.configure((old,))
    token = crypto.encrypt(PLAINTEXT)
    crypto.configure((new, old))
    assert crypto.decrypt(token) == PLAINTEXT
    fresh = crypto.encrypt("after")
    assert Fernet(new.encode()).decrypt(fresh.encode()) == b"after"
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(fresh.encode())
    crypto.configure((new,))  # the old key retired
    with pytest.raises(ConfigurationError):
        crypto.decrypt(token)


# A token made with another key is built in the test: a random value in the test's id would make
# parallel pytest workers collect different tests.
@pytest.mark.parametrize("kind", ["garbage", "empty", "other key"])
def test_decrypt_with_a_wrong_key_or_garbage_is_a_configuration_error(kind: str) -> None:
    token = {
        "garbage": "not a token",
        "empty": "",
        "other key": Fernet(Fernet.generate_key()).encrypt(b"x").decode(),
    }[kind]
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        crypto.decrypt(token)


def test_tampered_token_is_refused() -> None:
    token = crypto.encrypt(PLAINTEXT)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(ConfigurationError):
        crypto.decrypt(tampered)


@pytest.mark.parametrize("keys", [(), ("not-a-key",), (TEST_KEY, "short"), ("",)])
def test_configure_refuses_bad_keys_and_keeps_the_previous_ones(keyring: None, keys: tuple[str, ...]) -> None:
    token = crypto.encrypt(PLAINTEXT)
    with pytest.raises(ConfigurationError):
        crypto.configure(keys)
    assert crypto.decrypt(token) == PLAINTEXT


def test_nothing_is_encrypted_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "_keyring", None)  # restored by monkeypatch
    with pytest.raises(ConfigurationError, match="not configured"):
        crypto.encrypt(PLAINTEXT)
    with pytest.raises(ConfigurationError, match="not configured"):
        crypto.decrypt("anything")


def test_generate_key_gives_a_usable_key() -> None:
    key = crypto.generate_key()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
    assert key != crypto.generate_key()


# --- load_keys ---------------------------------------------------------------------------------------------


def test_keys_from_the_environment_win_and_no_file_is_written(tmp_path: Path) -> None:
    settings = _settings(tmp_path, ("k-new", "k-old"))
    assert crypto.load_keys(settings) == ("k-new", "k-old")
    assert not (tmp_path / "instance").exists()


def test_key_file_is_created_with_mode_0600_when_absent(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = crypto.key_file(settings)
    assert path == tmp_path / "instance" / "secret.key"
    assert not path.exists()
    keys = crypto.load_keys(settings)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(keys) == 1
    Fernet(keys[0].encode())  # a valid key
    assert crypto.load_keys(settings) == keys  # read again, not replaced


def test_key_file_with_several_keys_keeps_their_order(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    new, old = crypto.generate_key(), crypto.generate_key()
    path = crypto.key_file(settings)
    path.parent.mkdir(parents=True)
    path.write_text(f"{new}\n\n  {old}  \n")
    assert crypto.load_keys(settings) == (new, old)


def test_missing_key_file_is_an_error_when_not_to_be_created(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(ConfigurationError, match="ACQUIS_SECRET_KEYS") as caught:
        crypto.load_keys(settings, create=False)
    assert str(crypto.key_file(settings)) in str(caught.value)
    assert not crypto.key_file(settings).exists()


def test_configure_from_settings_uses_the_key_file(tmp_path: Path, keyring: None) -> None:
    settings = _settings(tmp_path)
    crypto.configure_from_settings(settings)
    token = crypto.encrypt(PLAINTEXT)
    (key,) = crypto.load_keys(settings)
    assert Fernet(key.encode()).decrypt(token.encode()).decode() == PLAINTEXT


# --- Settings.from_env ------------------------------------------------------------------------------------


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {"ACQUIS_INSTANCE_PATH": str(tmp_path / "inst")}
    env.update({f"ACQUIS_{k.upper()}": v for k, v in values.items()})
    return env


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(_env(tmp_path))
    assert settings.instance_path == (tmp_path / "inst").resolve()
    assert settings.database_url == f"sqlite:///{(tmp_path / 'inst').resolve() / 'acquis.db'}"
    assert settings.is_sqlite
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.worker == "inprocess"
    assert settings.max_body_bytes == 5 * 1024 * 1024
    assert settings.secret_keys == ()
    assert settings.log_level == "INFO"


def test_values_are_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        _env(
            tmp_path,
            public_url="https://acquis.univ.fr/",
            worker="none",
            max_body_bytes="1024",
            secret_keys=" k1 , k2,, ",
            log_level="debug",
            database_url="sqlite:////srv/acquis.db",
        )
    )
    assert settings.public_url == "https://acquis.univ.fr"  # no trailing slash: URLs are joined to it
    assert settings.worker == "none"
    assert settings.max_body_bytes == 1024
    assert settings.secret_keys == ("k1", "k2")
    assert settings.log_level == "DEBUG"
    assert settings.database_url == "sqlite:////srv/acquis.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/acquis", "postgresql+psycopg://u:p@db:5432/acquis"),
        ("postgresql://u:p@db/acquis", "postgresql+psycopg://u:p@db/acquis"),
        ("postgresql+psycopg://u@db/acquis", "postgresql+psycopg://u@db/acquis"),
    ],
)
def test_postgres_urls_use_the_psycopg_driver(tmp_path: Path, given: str, expected: str) -> None:
    settings = Settings.from_env(_env(tmp_path, database_url=given))
    assert settings.database_url == expected
    assert not settings.is_sqlite


@pytest.mark.parametrize("worker", ["threads", "", "Celery", "none "])
def test_bad_worker_is_refused(tmp_path: Path, worker: str) -> None:
    with pytest.raises(ConfigurationError, match="ACQUIS_WORKER"):
        Settings.from_env(_env(tmp_path, worker=worker))


@pytest.mark.parametrize("worker", ["inprocess", "none", "celery"])
def test_known_workers_are_accepted(tmp_path: Path, worker: str) -> None:
    assert Settings.from_env(_env(tmp_path, worker=worker)).worker == worker


@pytest.mark.parametrize("url", ["acquis.univ.fr", "ftp://acquis.univ.fr", "", "https://", " https://a.fr"])
def test_bad_public_url_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigurationError, match="ACQUIS_PUBLIC_URL"):
        Settings.from_env(_env(tmp_path, public_url=url))


@pytest.mark.parametrize("size", ["5MB", "", "1.5", "0", "-1"])
def test_bad_max_body_bytes_is_refused(tmp_path: Path, size: str) -> None:
    with pytest.raises(ConfigurationError, match="ACQUIS_MAX_BODY_BYTES"):
        Settings.from_env(_env(tmp_path, max_body_bytes=size))


def test_secret_keys_are_kept_out_of_repr(tmp_path: Path) -> None:
    settings = Settings.from_env(_env(tmp_path, secret_keys=TEST_KEY))
    assert settings.secret_keys == (TEST_KEY,)
    assert TEST_KEY not in repr(settings)


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    """Web and worker starting together on an empty instance folder must share one key."""
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings.from_env({"ACQUIS_INSTANCE_PATH": str(tmp_path / "inst")})
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: crypto.load_keys(settings), range(16)))
    assert len(set(keys)) == 1 and len(keys[0]) == 1
    assert [p.name for p in (tmp_path / "inst").iterdir()] == ["secret.key"]  # no temporary left
