"""`acquis db …`: schema migrations."""

from __future__ import annotations

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import migrate


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@friendly
def upgrade() -> None:
    """Create or migrate the database to the latest schema."""
    rt = cli_runtime.get(upgrade=True)
    click.echo(f"database at revision {migrate.current_revision(rt.db.engine)}")


@db.command()
@friendly
def current() -> None:
    """Show the schema revision and whether it is the latest."""
    rt = cli_runtime.get(upgrade=False)
    cur, head = migrate.current_revision(rt.db.engine), migrate.head_revision(rt.db.engine)
    click.echo(f"current {cur}, latest {head}" + ("" if cur == head else " — run `acquis db upgrade`"))


def register(cli: click.Group) -> None:
    cli.add_command(db)
