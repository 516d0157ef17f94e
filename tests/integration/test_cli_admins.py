"""`acquis admin add-user`: a local administrator whose password is asked twice or generated,
stored hashed, and accepted by the console's login check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from acquis.cli.main import cli
from acquis.core import admins
from acquis.core.db import Database
from acquis.core.models import AdminUser
from tests.conftest import TEST_KEY


@pytest.fixture
def run(db: Database, tmp_path: Path) -> Any:
    env = {
        "ACQUIS_DATABASE_URL": db.settings.database_url,
        "ACQUIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ACQUIS_SECRET_KEYS": TEST_KEY,
        "ACQUIS_PUBLIC_URL": "https://badges.univ.fr",
    }

    def _run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return _run


def test_add_user_with_a_prompted_password(run: Any, db: Database) -> None:
    password = "a long enough passphrase"
    result = run("admin", "add-user", "DSI@univ.fr", input=f"{password}\n{password}\n")
    assert result.exit_code == 0, result.output
    assert "https://badges.univ.fr/admin/login" in result.output and password not in result.output
    with db.session() as s:
        user = s.scalars(select(AdminUser)).one()
        assert user.email == "dsi@univ.fr" and password not in user.password_hash
        assert admins.authenticate(s, "dsi@univ.fr", password) is not None
        assert admins.authenticate(s, "dsi@univ.fr", password + "x") is None


def test_add_user_with_a_generated_password_shown_once(run: Any, db: Database) -> None:
    result = run("admin", "add-user", "it@univ.fr", "--generate")
    assert result.exit_code == 0, result.output
    password = re.search(r"^password: (\S+)$", result.output, re.M)
    assert password and len(password.group(1)) >= admins.MIN_PASSWORD
    with db.session() as s:
        assert admins.authenticate(s, "it@univ.fr", password.group(1)) is not None


def test_bad_input_is_refused_and_nothing_is_stored(run: Any, db: Database) -> None:
    short = run("admin", "add-user", "it@univ.fr", input="short\nshort\n")
    assert short.exit_code == 1 and "password: use at least 12 characters" in short.output
    bad_email = run("admin", "add-user", "not-an-email", "--generate")
    assert bad_email.exit_code == 1 and "email: not an email address" in bad_email.output
    assert run("admin", "add-user", "it@univ.fr", "--generate").exit_code == 0
    again = run("admin", "add-user", "IT@univ.fr", "--generate")
    assert again.exit_code == 1 and "already exists" in again.output
    with db.session() as s:
        assert len(s.scalars(select(AdminUser)).all()) == 1
