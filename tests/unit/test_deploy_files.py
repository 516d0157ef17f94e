"""deploy/ cannot drift from the code: every ACQUIS_* variable that the compose file, its .env
example and the systemd units set is one Settings reads (and the example values parse), and every
command they run exists with the options given (acquis through its click group, gunicorn through
its own argument parser, the WSGI module by import path)."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from gunicorn.config import Config

from acquis.cli.main import cli
from acquis.core import settings as settings_module
from acquis.core.settings import Settings
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _settings_reads() -> set[str]:
    source = Path(settings_module.__file__).read_text(encoding="utf-8")
    return {f"ACQUIS_{name}" for name in re.findall(r"ENV_PREFIX\}(\w+)", source)}


def _env_file(path: Path) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: {line!r} is not KEY=value"
            pairs[key.strip()] = value.strip()
    return pairs


def _unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit as key → values (systemd allows a key several times, configparser does not)."""
    entries: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not Key=value"
        entries.setdefault(f"{section}.{key}", []).append(value)
    return entries


def _compose() -> dict[str, Any]:
    with open(DEPLOY / "docker-compose.yml", encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def _commands() -> list[list[str]]:
    commands = [list(svc["command"]) for svc in _compose()["services"].values() if "command" in svc]
    for unit in UNITS:
        for line in _unit(unit).get("Service.ExecStart", []):
            argv = shlex.split(line)
            commands.append([Path(argv[0]).name, *argv[1:]])
    return commands


def _check_acquis(args: list[str]) -> None:
    """Resolve the sub-command chain and parse its options exactly as `acquis` would."""
    ctx = click.Context(cli, info_name="acquis")
    command: click.Command = cli
    rest = list(args)
    while isinstance(command, click.Group):
        assert rest, f"`acquis {' '.join(args)}` names a group, not a command"
        name, sub, rest = command.resolve_command(ctx, rest)  # UsageError for an unknown command
        assert sub is not None and name is not None
        ctx = click.Context(sub, info_name=name, parent=ctx)
        command = sub
    command.parse_args(ctx, list(rest))  # UsageError for an unknown option or a bad value


def test_every_variable_the_deployment_sets_is_read_by_settings() -> None:
    reads = _settings_reads()
    assert {"ACQUIS_DATABASE_URL", "ACQUIS_BROKER_URL", "ACQUIS_WORKER"} <= reads  # the parser works
    example = _env_file(DEPLOY / ".env.example")
    set_by: dict[str, str] = {k: ".env.example" for k in example}
    for name, svc in _compose()["services"].items():
        for key in svc.get("environment") or {}:
            set_by[key] = f"compose service {name}"
    for unit in UNITS:
        for line in _unit(unit).get("Service.Environment", []):
            for pair in shlex.split(line):
                set_by[pair.partition("=")[0]] = unit.name
    unknown = {k: where for k, where in set_by.items() if k.startswith("ACQUIS_") and k not in reads}
    assert not unknown, f"set in deploy/ but never read by Settings: {unknown}"
    # The example's values are valid as they stand (the scaled mode they describe).
    settings = Settings.from_env({k: v for k, v in example.items() if k.startswith("ACQUIS_")})
    assert settings.worker == "celery" and settings.broker_url and not settings.is_sqlite


def test_compose_and_units_read_their_environment_from_the_example() -> None:
    compose = _compose()
    acquis_services = [n for n, s in compose["services"].items() if s.get("image") == "acquis:latest"]
    assert sorted(acquis_services) == ["migrate", "web", "worker"]
    for name in acquis_services:
        svc = compose["services"][name]
        assert svc["env_file"] == ".env" and "instance:/var/lib/acquis" in svc["volumes"], name
    assert (
        compose["services"]["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    )
    assert {u.name for u in UNITS} == {
        "acquis-migrate.service",
        "acquis-web.service",
        "acquis-worker@.service",
    }
    for unit in UNITS:
        entries = _unit(unit)
        assert entries["Service.EnvironmentFile"] == ["/etc/acquis/acquis.env"], unit.name
        if unit.name != "acquis-migrate.service":
            assert entries["Service.Restart"] == ["always"], unit.name  # recovery without a human
            assert entries["Unit.Requires"] == ["acquis-migrate.service"], unit.name
    assert "%i" in _unit(DEPLOY / "systemd" / "acquis-worker@.service")["Service.ExecStart"][0]


@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a)[:60])
def test_every_command_the_deployment_runs_exists(argv: list[str]) -> None:
    program, args = argv[0], argv[1:]
    if program == "acquis":
        _check_acquis(args)
    elif program == "gunicorn":
        parsed = Config().parser().parse_args(args)
        (target,) = parsed.args
        module, _, attr = target.partition(":")
        assert importlib.util.find_spec(module) is not None, target
        assert attr == "app"
    else:  # the images' own commands (postgres, redis) are theirs to keep
        assert program in {"redis-server"}, f"unexpected command {argv}"
