"""`acquis establishment …`: tenants and their ingest credentials."""

from __future__ import annotations

import click
from sqlalchemy import select

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import establishments, ratelimit
from acquis.core.models import Establishment


@click.group()
def establishment() -> None:
    """Establishments (universities, schools): each one a tenant."""


@establishment.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="Display name, e.g. 'Université de Lille'.")
@click.option("--locale", default="fr", show_default=True, type=click.Choice(establishments.LOCALES))
@click.option("--contact-email", help="Shown in the issuer profile of its badges.")
@click.option("--website", help="The establishment's website, shown in its badges.")
@friendly
def add(slug: str, name: str, locale: str, contact_email: str | None, website: str | None) -> None:
    """Create establishment SLUG and print its statements endpoint and credentials (shown once)."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est, cred = establishments.create(session, slug, name, locale, contact_email, website)
        public = rt.settings.public_url
        click.echo(f"establishment {est.slug} created")
        click.echo(f"statements endpoint: {public}/e/{est.slug}/xapi/")
        click.echo(f"key:    {cred.key}")
        click.echo(f"secret: {cred.secret}")
        click.echo("(the secret is shown only now: store it in Moodle's logstore_xapi settings)")


@establishment.command("credential")
@click.argument("slug")
@click.option("--label", default="", help="What the credential is for, e.g. 'moodle prod'.")
@friendly
def credential(slug: str, label: str) -> None:
    """Issue another ingest credential for SLUG (e.g. to rotate one)."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        cred = establishments.add_credential(session, establishments.get(session, slug), label)
        click.echo(f"key:    {cred.key}")
        click.echo(f"secret: {cred.secret}")


@establishment.command("revoke-credential")
@click.argument("key")
@friendly
def revoke_credential(key: str) -> None:
    """Revoke an ingest credential by its key."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        establishments.revoke_credential(session, key)
    click.echo(f"credential {key} revoked")


@establishment.command("list")
@friendly
def list_() -> None:
    """List establishments."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        rows = list(session.scalars(select(Establishment).order_by(Establishment.slug)))
        if not rows:
            click.echo("no establishment yet: acquis establishment add SLUG --name NAME")
        for est in rows:
            enabled = sorted(a.adapter for a in est.adapters if a.enabled)
            click.echo(f"{est.slug}\t{est.name}\t{est.locale}\tadapters: {', '.join(enabled) or '-'}")


@establishment.command("rate-limit")
@click.argument("slug")
@click.option(
    "--per-minute",
    type=click.IntRange(0, 10_000_000),
    help="Statements a minute its endpoint accepts (0: no limit).",
)
@click.option("--default", "use_default", is_flag=True, help="Follow ACQUIS_INGEST_RATE_LIMIT again.")
@friendly
def rate_limit(slug: str, per_minute: int | None, use_default: bool) -> None:
    """Show or set SLUG's ingest rate limit; beyond it, its endpoint answers 429 and stores nothing."""
    if per_minute is not None and use_default:
        raise click.UsageError("give --per-minute N or --default, not both")
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        if use_default:
            est.ingest_rate_limit = None
        elif per_minute is not None:
            est.ingest_rate_limit = per_minute
        limit = ratelimit.effective_limit(est, rt.settings.ingest_rate_limit)
        source = "default (ACQUIS_INGEST_RATE_LIMIT)" if est.ingest_rate_limit is None else "its own"
        shown = "no limit" if limit == 0 else f"{limit} statements a minute"
        click.echo(f"{est.slug}: {shown}, {source}")


def register(cli: click.Group) -> None:
    cli.add_command(establishment)
