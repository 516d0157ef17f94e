"""The CLI as an IT admin uses it: clear one-line errors, secrets never shown back."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text

from acquis.cli.main import cli
from acquis.core import runtime as runtime_module
from acquis.core.db import Database
from acquis.core.events import CheckResult
from acquis.core.models import LtiPlatform
from acquis.core.plugins import PluginHost
from tests.conftest import TEST_KEY
from tests.plugins import RecordingEmitter

SECRET = "sk-live-7f3a9c1b2e"


@pytest.fixture
def run(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    recorder = RecordingEmitter(
        "recorder",
        check_fn=lambda ctx: CheckResult(False, f"401 from {ctx.settings['url']}: check the token"),
    )
    monkeypatch.setattr(runtime_module, "PluginHost", lambda: PluginHost(plugins=[("recorder", recorder)]))
    env = {
        "ACQUIS_DATABASE_URL": db.settings.database_url,
        "ACQUIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ACQUIS_SECRET_KEYS": TEST_KEY,
        "ACQUIS_PUBLIC_URL": "https://badges.univ.fr",
    }

    def _run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return _run


def _one_line_error(result: Result) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_establishment_add_and_list(run: Any) -> None:
    added = run("establishment", "add", "univ-lille", "--name", "Université de Lille")
    assert added.exit_code == 0, added.output
    assert "https://badges.univ.fr/e/univ-lille/xapi/" in added.output
    assert "secret:" in added.output
    listed = run("establishment", "list")
    assert "univ-lille\tUniversité de Lille\tfr\tadapters: openbadges" in listed.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["establishment", "add", "Univ Lille", "--name", "x"], "slug: use 1-64 lowercase letters"),
        (["establishment", "add", "univ-x", "--name", " "], "name: must not be empty"),
        (["adapter", "enable", "nowhere", "recorder"], "no establishment 'nowhere'"),
        (["adapter", "enable", "univ-a", "obf-typo"], "no adapter named 'obf-typo' (installed: "),
        (["adapter", "set", "univ-a", "recorder", "url"], "'url': write settings as KEY=VALUE"),
        (["adapter", "set", "univ-a", "recorder", "colour=red"], "recorder has no setting 'colour'"),
        (["adapter", "set", "univ-a", "recorder", "url=ftp://x"], "url: expected an http(s) URL"),
        (
            ["adapter", "enable", "univ-a", "recorder"],
            "set url, token first: acquis adapter set univ-a recorder",
        ),
        (
            [
                "platform",
                "add",
                "univ-a",
                "--issuer",
                "moodle",
                "--client-id",
                "c",
                "--deployment-id",
                "1",
                "--auth-login-url",
                "https://m/auth",
                "--token-url",
                "https://m/t",
                "--jwks-url",
                "https://m/k",
            ],
            "issuer: expected an http(s) URL",
        ),
    ],
)
def test_bad_arguments_get_a_one_line_error_that_says_what_to_do(
    run: Any, args: list[str], expected: str
) -> None:
    assert run("establishment", "add", "univ-a", "--name", "A").exit_code == 0
    line = _one_line_error(run(*args))
    assert line.startswith("Error: ") and expected in line


def test_secrets_are_encrypted_never_listed_never_logged(
    run: Any, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert run("establishment", "add", "univ-a", "--name", "A").exit_code == 0
    out = run("adapter", "set", "univ-a", "recorder", "url=https://obf.example/", f"token={SECRET}")
    assert out.exit_code == 0 and SECRET not in out.output
    assert run("adapter", "enable", "univ-a", "recorder").exit_code == 0
    listing = run("adapter", "list", "univ-a")
    assert "token=********" in listing.output and SECRET not in listing.output
    assert "url=https://obf.example" in listing.output
    check = run("adapter", "check", "univ-a", "recorder")
    assert check.exit_code == 1 and "FAILED: 401 from https://obf.example: check the token" in check.output
    with db.session() as s:
        raw = s.execute(text("SELECT secrets FROM adapter_config WHERE adapter = 'recorder'")).scalar_one()
    assert SECRET not in raw
    assert SECRET not in caplog.text


def test_secret_value_from_a_file_and_unreadable_file(run: Any, tmp_path: Path) -> None:
    assert run("establishment", "add", "univ-a", "--name", "A").exit_code == 0
    token = tmp_path / "token.txt"
    token.write_text(SECRET, encoding="utf-8")
    assert run("adapter", "set", "univ-a", "recorder", f"token=@{token}").exit_code == 0
    line = _one_line_error(run("adapter", "set", "univ-a", "recorder", f"token=@{tmp_path / 'missing'}"))
    assert "token: cannot read" in line


def test_platform_add_and_list(run: Any, db: Database) -> None:
    assert run("establishment", "add", "univ-a", "--name", "A").exit_code == 0
    args = [
        "platform",
        "add",
        "univ-a",
        "--issuer",
        "https://moodle.univ-a.fr",
        "--client-id",
        "Xy12",
        "--deployment-id",
        "1",
        "--deployment-id",
        "7",
        "--auth-login-url",
        "https://moodle.univ-a.fr/mod/lti/auth.php",
        "--token-url",
        "https://moodle.univ-a.fr/mod/lti/token.php",
        "--jwks-url",
        "https://moodle.univ-a.fr/mod/lti/certs.php",
    ]
    assert run(*args).exit_code == 0
    with db.session() as s:
        platform = s.scalars(select(LtiPlatform)).one()
        assert [d.deployment_id for d in platform.deployments] == ["1", "7"]
    assert "already registered" in _one_line_error(run(*args))
    listed = run("platform", "list", "univ-a")
    assert "https://moodle.univ-a.fr\tclient Xy12\tdeployments 1,7\tmanual" in listed.output


def test_tour_commands_framework_tag_award(run: Any) -> None:
    from importlib import resources

    demo = resources.files("acquis") / "data" / "frameworks" / "demo.yaml"
    assert run("establishment", "add", "univ-a", "--name", "A").exit_code == 0
    imported = run("framework", "import", "univ-a", str(demo))
    assert imported.exit_code == 0, imported.output
    tagged = run(
        "tag",
        "add",
        "univ-a",
        "--activity",
        "http://www.example.org/mod/book/view.php?id=1",
        "--competency",
        "C1",
        "--level",
        "novice",
    )
    assert tagged.exit_code == 0 and "→ C1 Novice (completion)" in tagged.output
    assert "no level 'Maître'" in _one_line_error(
        run("tag", "add", "univ-a", "--activity", "http://x/1", "--competency", "C1", "--level", "Maître")
    )
    assert run("award", "list", "univ-a").output.strip() == "no award yet"


def test_badge_policy_and_award_commands(run: Any) -> None:
    from importlib import resources

    demo = resources.files("acquis") / "data" / "frameworks" / "demo.yaml"
    assert run("establishment", "add", "univ-a", "--name", "A").exit_code == 0
    assert run("framework", "import", "univ-a", str(demo)).exit_code == 0
    badge_id = run("badge", "list", "univ-a").output.split("\t")[0]
    shown = run("badge", "policy", "univ-a", badge_id, "--reissue", "--jury", "--valid-days", "365")
    assert shown.exit_code == 0 and "re-issue allowed, jury yes, valid 365 days" in shown.output
    assert "no badge class nope" in _one_line_error(run("badge", "policy", "univ-a", "nope", "--reissue"))
    assert "no award nope" in _one_line_error(run("award", "retry", "univ-a", "nope"))
    assert "say who" in _one_line_error(run("award", "reissue", "univ-a", "nope", "--by", " "))


def test_establishment_rate_limit_override_and_default(run: Any) -> None:
    assert run("establishment", "add", "univ-rl", "--name", "U").exit_code == 0
    shown = run("establishment", "rate-limit", "univ-rl")
    assert shown.exit_code == 0 and "60000 statements a minute, default" in shown.output
    set_ = run("establishment", "rate-limit", "univ-rl", "--per-minute", "120")
    assert "120 statements a minute, its own" in set_.output
    assert "no limit, its own" in run("establishment", "rate-limit", "univ-rl", "--per-minute", "0").output
    assert "default" in run("establishment", "rate-limit", "univ-rl", "--default").output
    both = run("establishment", "rate-limit", "univ-rl", "--per-minute", "5", "--default")
    assert both.exit_code != 0 and "not both" in both.output
