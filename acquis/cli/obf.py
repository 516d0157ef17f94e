"""`acquis obf …`: the OpenBadge Factory adapter's own commands."""

from __future__ import annotations

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import adapters, establishments
from acquis.core.errors import InvalidInput
from acquis.plugins.obf.catalogue import sync_badges
from acquis.plugins.obf.client import OBFClient
from acquis.plugins.obf.plugin import NAME, OBFPlugin, config_of


@click.group()
def obf() -> None:
    """OpenBadge Factory: map badge classes to the badges of the establishment's OBF account."""


def _parse_map(items: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"{item!r}: write BADGECLASS_PUBLIC_ID=OBF_BADGE_ID", field="--map")
        mapping[key.strip()] = value.strip()
    return mapping


@obf.command("sync-badges")
@click.argument("slug")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="BADGECLASS_PUBLIC_ID=OBF_BADGE_ID",
    help="Map one badge class explicitly (repeatable); the others are matched by name.",
)
@friendly
def sync_badges_cmd(slug: str, maps: tuple[str, ...]) -> None:
    """List SLUG's OBF badges and map its badge classes to them (explicitly, or by name)."""
    mapping = _parse_map(maps)
    rt = cli_runtime.get()
    rt.host.spec(NAME)  # says which adapters are installed when OBF is not
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        ctx = adapters.context(session, est, NAME, rt.settings.public_url)
        plugin = rt.host.pm.get_plugin(NAME)
        client = plugin.client(ctx) if isinstance(plugin, OBFPlugin) else OBFClient(config_of(ctx.settings))
        report = sync_badges(session, est, client, mapping)
    click.echo(f"{report.obf_badges} badge(s) ready to issue in OBF")
    for label, rows in (
        ("mapped", report.mapped),
        ("kept", report.kept),
        ("matched by name", report.by_name),
    ):
        for public_id, name, obf_id in rows:
            click.echo(f"{label}\t{public_id}\t{name}\t→ {obf_id}")
    for public_id, name, obf_id in report.stale:
        click.echo(f"stale\t{public_id}\t{name}\t{obf_id} is gone from OBF: map it with --map")
    for public_id, name in report.ambiguous:
        click.echo(f"ambiguous\t{public_id}\t{name}\tseveral OBF badges have this name: map it with --map")
    for public_id, name in report.unmapped:
        click.echo(f"unmapped\t{public_id}\t{name}\tno OBF badge of this name: its awards cannot go to OBF")


def register(cli: click.Group) -> None:
    cli.add_command(obf)
