"""`acquis adapter …`: enable, configure and check adapters per establishment."""

from __future__ import annotations

import click
from sqlalchemy import select

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import adapters as svc
from acquis.core import establishments
from acquis.core.errors import InvalidInput
from acquis.core.models import AdapterConfig


@click.group()
def adapter() -> None:
    """Adapters (Moodle, OpenBadge Factory, Pégase, Karuta, Europass…) per establishment."""


@adapter.command("list")
@click.argument("slug", required=False)
@friendly
def list_(slug: str | None) -> None:
    """List installed adapters, and with SLUG whether each is enabled there and its settings."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        configs: dict[str, AdapterConfig] = {}
        if slug:
            est = establishments.get(session, slug)
            configs = {
                c.adapter: c
                for c in session.scalars(
                    select(AdapterConfig).where(AdapterConfig.establishment_id == est.id)
                )
            }
        for name in rt.host.names:
            spec = rt.host.spec(name)
            line = f"{name}\t{spec.title}"
            if slug:
                cfg = configs.get(name)
                state = "enabled" if cfg is not None and cfg.enabled else "disabled"
                shown = svc.shown_settings(cfg, spec) if cfg is not None else {}
                settings = ", ".join(f"{k}={v}" for k, v in shown.items() if v is not None)
                line += f"\t{state}" + (f"\t{settings}" if settings else "")
            click.echo(line)


@adapter.command()
@click.argument("slug")
@click.argument("name")
@friendly
def enable(slug: str, name: str) -> None:
    """Enable adapter NAME for establishment SLUG (its required settings must be set)."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        svc.set_enabled(session, rt.host, establishments.get(session, slug), name, True)
    click.echo(f"{name} enabled for {slug}")


@adapter.command()
@click.argument("slug")
@click.argument("name")
@friendly
def disable(slug: str, name: str) -> None:
    """Disable adapter NAME for establishment SLUG."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        svc.set_enabled(session, rt.host, establishments.get(session, slug), name, False)
    click.echo(f"{name} disabled for {slug}")


@adapter.command("set")
@click.argument("slug")
@click.argument("name")
@click.argument("values", nargs=-1, required=True, metavar="KEY=VALUE...")
@friendly
def set_(slug: str, name: str, values: tuple[str, ...]) -> None:
    """Set settings of adapter NAME for SLUG; secrets are encrypted and never shown back.

    A value of the form @path reads the file (for certificates and keys).
    """
    parsed: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{item!r}: write settings as KEY=VALUE")
        if value.startswith("@"):
            try:
                with open(value[1:], encoding="utf-8") as fh:
                    value = fh.read()
            except OSError as exc:
                raise InvalidInput(f"cannot read {value[1:]}: {exc.strerror}", field=key) from None
        parsed[key] = value
    rt = cli_runtime.get()
    with rt.db.session() as session:
        svc.update_settings(session, rt.host, establishments.get(session, slug), name, parsed)
    click.echo(f"{name} settings updated for {slug}: {', '.join(sorted(parsed))}")


@adapter.command()
@click.argument("slug")
@click.argument("name")
@friendly
def check(slug: str, name: str) -> None:
    """Check adapter NAME's connection for SLUG and say what to fix."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        result = svc.check(session, rt.host, establishments.get(session, slug), name, rt.settings.public_url)
    click.echo(("OK: " if result.ok else "FAILED: ") + result.message)
    if not result.ok:
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(adapter)
