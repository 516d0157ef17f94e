"""`acquis award …` and `acquis badge …`: what was issued, and to whom."""

from __future__ import annotations

import click
from sqlalchemy import select

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import awards, establishments
from acquis.core.errors import NotFound
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


@award.command("retry")
@click.argument("slug")
@click.argument("public_id")
@friendly
def award_retry(slug: str, public_id: str) -> None:
    """Deliver a failed award again, once what its error said is fixed."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        awards.retry(session, establishments.get(session, slug).id, public_id)
    rt.notify()
    click.echo(f"award {public_id} queued for delivery again")


@award.command("reissue")
@click.argument("slug")
@click.argument("public_id")
@click.option("--by", required=True, help="Who re-issues it (kept with the award).")
@friendly
def award_reissue(slug: str, public_id: str, by: str) -> None:
    """Issue a badge again to the same learner, where the badge class allows duplicates."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        fresh = awards.reissue(session, establishments.get(session, slug).id, public_id, by)
        click.echo(f"award {fresh.public_id} created (issue {fresh.issue_no}) and queued")


@badge.command("policy")
@click.argument("slug")
@click.argument("public_id")
@click.option("--reissue/--no-reissue", default=None, help="Allow or deny issuing this badge twice.")
@click.option("--jury/--no-jury", default=None, help="Hold validations of this level for a jury.")
@click.option("--valid-days", type=click.IntRange(1, 36500), default=None, help="Expiry after issuance.")
@friendly
def badge_policy(
    slug: str, public_id: str, reissue: bool | None, jury: bool | None, valid_days: int | None
) -> None:
    """Set a badge class's policy: re-issue, jury approval, expiry."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        b = session.scalar(
            select(BadgeClass).where(BadgeClass.public_id == public_id, BadgeClass.establishment_id == est.id)
        )
        if b is None:
            raise NotFound(f"no badge class {public_id} in {slug} (see `acquis badge list {slug}`)")
        if reissue is not None:
            b.allow_reissue = reissue
        if jury is not None:
            b.requires_approval = jury
        if valid_days is not None:
            b.valid_days = valid_days
        click.echo(
            f"{b.name}: re-issue {'allowed' if b.allow_reissue else 'denied'}, "
            f"jury {'yes' if b.requires_approval else 'no'}, valid {b.valid_days or '∞'} days"
        )


def register(cli: click.Group) -> None:
    cli.add_command(badge)
    cli.add_command(award)
