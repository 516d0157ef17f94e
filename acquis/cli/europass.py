"""`acquis europass …`: European Digital Credentials of what a student chose, from the command line."""

from __future__ import annotations

import sys

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import adapters, establishments, snapshots
from acquis.core.errors import ConfigurationError, InvalidInput
from acquis.core.events import ExportResult
from acquis.plugins.europass import credential
from acquis.plugins.europass.plugin import FORMAT, NAME


@click.group()
def europass() -> None:
    """Europass: European Digital Credentials (ELM v3) of validated competencies and badges."""


@europass.command("export")
@click.argument("slug")
@click.option("--learner", "learner_id", type=int, required=True, help="The learner's id.")
@click.option(
    "--validation", "validations", type=int, multiple=True, help="A validation to include (repeatable)."
)
@click.option(
    "--badge", "badges", type=int, multiple=True, help="An issued badge (award id) to include (repeatable)."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="File to write, - for stdout."
)
@friendly
def export_cmd(
    slug: str, learner_id: int, validations: tuple[int, ...], badges: tuple[int, ...], output: str | None
) -> None:
    """Export what the student of SLUG chose (--validation, --badge) as a European Digital Credential.

    Sealed with the establishment's certificate when the europass adapter has one, else the
    unsigned form the Europass wallet accepts for upload. Nothing is included by default: the
    student's choice is passed explicitly.
    """
    if not validations and not badges:
        raise InvalidInput("name what the student chose: --validation ID and/or --badge ID")
    rt = cli_runtime.get()
    rt.host.spec(NAME)  # says which adapters are installed when europass is not
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        if NAME not in adapters.enabled_names(session, est.id):
            raise ConfigurationError(f"enable it first: acquis adapter enable {slug} {NAME}")
        chosen = credential.load_achievements(
            session, est, learner_id, validations, badges, public_url=rt.settings.public_url
        )
        learner = snapshots.learner_ref(session, learner_id)
        ctx = adapters.context(session, est, NAME, rt.settings.public_url)
    hook = rt.host.caller("export_achievements", {NAME})
    result: ExportResult | None = hook(
        ctx=ctx, learner=learner, format=FORMAT, selection={"achievements": chosen}
    )
    if result is None:
        raise ConfigurationError("the europass adapter produced nothing")
    if output == "-":
        sys.stdout.buffer.write(result.content)
        return
    path = output or result.filename
    with open(path, "wb") as fh:
        fh.write(result.content)
    kind = "sealed" if result.media_type == "application/jose+json" else "unsigned (uploadable)"
    click.echo(f"{path}\t{kind}\t{len(chosen)} achievement(s)")


def register(cli: click.Group) -> None:
    cli.add_command(europass)
