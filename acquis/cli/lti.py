"""`acquis lti …`: the LTI tool's signing keys and the URLs that register it in a Moodle."""

from __future__ import annotations

import click
from sqlalchemy import select

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import crypto, establishments
from acquis.core.models import LtiToolKey
from acquis.lti import keys, registration


@click.group()
def lti() -> None:
    """The LTI 1.3 tool: its signing keys (published at <public url>/lti/jwks)."""


@lti.command("registration-url")
@click.argument("slug")
@click.option(
    "--valid-hours", default=registration.CODE_HOURS, show_default=True, type=click.IntRange(1, 720)
)
@friendly
def registration_url(slug: str, valid_hours: int) -> None:
    """The URL to paste in Moodle's "Tool URL" to register acquis for establishment SLUG."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        establishments.get(session, slug)
    click.echo(
        registration.registration_url(rt.settings.public_url, crypto.configured_keys(), slug, valid_hours)
    )
    click.echo(f"(valid {valid_hours} hours; paste it in Moodle: External tool → Manage tools → Tool URL)")


@lti.command("rotate-key")
@friendly
def rotate_key() -> None:
    """Make a new signing key; the previous one stays published until the next rotation.

    Platforms cache the tool's key set: rotate again only after they have had time to refresh
    it (a day is plenty), or messages signed with the retired key would be refused.
    """
    rt = cli_runtime.get()
    with rt.db.session() as session:
        new_kid, previous = keys.rotate(session)
    click.echo(
        f"new signing key {new_kid}" + (f"; {previous} still published as previous" if previous else "")
    )


@lti.command("keys")
@friendly
def list_keys() -> None:
    """List the tool's keys (kid, status, creation date); private halves are never shown."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        rows = session.scalars(select(LtiToolKey).order_by(LtiToolKey.id)).all()
        if not rows:
            click.echo("no key yet: one is created at the first launch, or with `acquis lti rotate-key`")
        for key in rows:
            click.echo(f"{key.kid}\t{key.status}\t{key.created_at.isoformat(timespec='seconds')}")


def register(cli: click.Group) -> None:
    cli.add_command(lti)
