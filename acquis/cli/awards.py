"""`acquis award …` and `acquis badge …`: what was issued, and to whom."""

from __future__ import annotations

import click
from sqlalchemy import select

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import establishments
from acquis.core.models import Award, BadgeClass, Learner


@click.group()
def badge() -> None:
    """Badge classes."""


@badge.command("list")
@click.argument("slug")
@friendly
def badge_list(slug: str) -> None:
    """List the badge classes of SLUG."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        for b in session.scalars(
            select(BadgeClass).where(BadgeClass.establishment_id == est.id).order_by(BadgeClass.id)
        ):
            approval = "jury" if b.requires_approval else "automatic"
            click.echo(f"{b.public_id}\t{b.name}\t{approval}")


@click.group()
def award() -> None:
    """Awards: one badge issued to one learner."""


@award.command("list")
@click.argument("slug")
@click.option("--status", type=click.Choice(["pending", "issued", "failed", "revoked"]))
@friendly
def award_list(slug: str, status: str | None) -> None:
    """List the awards of SLUG with their status and verification URL."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        query = (
            select(Award, BadgeClass.name, Learner.display_name)
            .join(BadgeClass, BadgeClass.id == Award.badge_class_id)
            .join(Learner, Learner.id == Award.learner_id)
            .where(Award.establishment_id == est.id)
            .order_by(Award.id)
        )
        if status:
            query = query.where(Award.status == status)
        rows = session.execute(query).all()
        if not rows:
            click.echo("no award yet")
        for a, badge_name, learner in rows:
            url = (a.receipt or {}).get("url") or "-"
            extra = f"\t{a.last_error}" if a.last_error else ""
            click.echo(f"{a.status}\t{badge_name}\t{learner or a.learner_id}\t{url}{extra}")


def register(cli: click.Group) -> None:
    cli.add_command(badge)
    cli.add_command(award)
