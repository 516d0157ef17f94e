"""`acquis framework …`: import, export and list competency frameworks; list the shipped samples."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import establishments, frameworks, interchange
from acquis.core.errors import InvalidInput
from acquis.core.interchange.samples import samples as shipped_samples
from acquis.core.models import Competency, Framework

FORMAT_OPTION = click.Choice(sorted(interchange.FORMATS))


@click.group()
def framework() -> None:
    """Competency frameworks (référentiels)."""


@framework.command("import")
@click.argument("slug")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "format_",
    type=FORMAT_OPTION,
    help="yaml (our definition), case (1EdTech CASE JSON) or moodle-csv; guessed from the extension.",
)
@click.option(
    "--badges/--no-badges",
    default=True,
    show_default=True,
    help="Create a badge class for each level of each competency.",
)
@friendly
def import_(slug: str, path: Path, format_: str | None, badges: bool) -> None:
    """Import the framework in PATH into establishment SLUG."""
    fmt = interchange.get(format_) if format_ else interchange.guess(path)
    try:
        # utf-8-sig: spreadsheets save CSV with a byte order mark.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    source = fmt.read(text)
    rt = cli_runtime.get()
    with rt.db.session() as session:
        fw = interchange.import_source(
            session, establishments.get(session, slug), source, create_badges=badges
        )
        count = len(fw.competencies)
        click.echo(f"framework {fw.code} imported: {count} competencies, {len(fw.scale)} levels")


@framework.command("export")
@click.argument("slug")
@click.argument("code")
@click.option("--format", "format_", type=FORMAT_OPTION, help="Default: from -o's extension, else yaml.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout."
)
@friendly
def export(slug: str, code: str, format_: str | None, output: Path | None) -> None:
    """Export framework CODE of establishment SLUG (YAML, CASE JSON or Moodle CSV)."""
    if format_:
        fmt = interchange.get(format_)
    elif output is not None:
        fmt = interchange.guess(output)
    else:
        fmt = interchange.get("yaml")
    rt = cli_runtime.get()
    with rt.db.session() as session:
        fw = frameworks.get(session, establishments.get(session, slug), code)
        text = fmt.write(session, fw)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInput(f"cannot write {output}: {exc}") from None
    click.echo(f"framework {code} written to {output} ({fmt.name})")


@framework.command("samples")
def samples() -> None:
    """List the sample frameworks shipped with acquis, to import as they are or to start from."""
    for sample in shipped_samples():
        click.echo(f"{sample.name}\t{sample.title}\t{sample.path}")


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
