"""`acquis framework …`: import and list competency frameworks."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import establishments, frameworks
from acquis.core.errors import InvalidInput
from acquis.core.models import Competency, Framework


@click.group()
def framework() -> None:
    """Competency frameworks (référentiels)."""


@framework.command("import")
@click.argument("slug")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--badges/--no-badges",
    default=True,
    show_default=True,
    help="Create a badge class for each level of each competency.",
)
@friendly
def import_(slug: str, path: Path, badges: bool) -> None:
    """Import the framework in PATH (YAML) into establishment SLUG."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    rt = cli_runtime.get()
    with rt.db.session() as session:
        fw = frameworks.import_definition(
            session, establishments.get(session, slug), frameworks.load_yaml(text), create_badges=badges
        )
        count = len(fw.competencies)
        click.echo(f"framework {fw.code} imported: {count} competencies, {len(fw.scale)} levels")


@framework.command("list")
@click.argument("slug")
@friendly
def list_(slug: str) -> None:
    """List the frameworks of SLUG with their competencies."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        for fw in session.scalars(select(Framework).where(Framework.establishment_id == est.id)):
            levels = " → ".join(level["label"] for level in fw.scale)
            click.echo(f"{fw.code}\t{fw.title}\t{levels}")
            for comp in session.scalars(
                select(Competency).where(Competency.framework_id == fw.id).order_by(Competency.position)
            ):
                indent = "    " if comp.parent_id else "  "
                click.echo(f"{indent}{comp.code}\t{comp.title}")


def register(cli: click.Group) -> None:
    cli.add_command(framework)
