"""`acquis tag …`: say what completing an activity validates."""

from __future__ import annotations

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import establishments, tags
from acquis.core.models import TRIGGERS


@click.group()
def tag() -> None:
    """Tags: activity → competency level."""


@tag.command("add")
@click.argument("slug")
@click.option(
    "--activity",
    "activities",
    multiple=True,
    required=True,
    help="The activity's URL in the LMS (xAPI object id); repeat for an N-of-M rule.",
)
@click.option("--competency", required=True, help="Competency code, e.g. C.1")
@click.option("--level", required=True, help="Level rank, code or label, e.g. Novice")
@click.option("--framework", help="Framework code, when the establishment has several.")
@click.option("--trigger", default="completion", show_default=True, type=click.Choice(TRIGGERS))
@click.option("--min-grade", type=float, help="For --trigger min_grade: a fraction from 0 to 1.")
@click.option(
    "--required",
    "required_count",
    default=1,
    show_default=True,
    type=int,
    help="How many of the activities must be done (N of M).",
)
@friendly
def add(
    slug: str,
    activities: tuple[str, ...],
    competency: str,
    level: str,
    framework: str | None,
    trigger: str,
    min_grade: float | None,
    required_count: int,
) -> None:
    """Tag activities of SLUG as validating a competency level; applies to past completions too."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        lv = tags.find_level(session, est, competency, level, framework)
        rule = tags.add_rule(session, est, lv, list(activities), trigger, min_grade, required_count, "cli")
        looked_at = tags.apply_to_past(session, rt.host, est, rule)
    click.echo(f"tag {rule.id}: {', '.join(activities)} → {competency} {lv.label} ({trigger})")
    if looked_at:
        click.echo(f"applied to the past completions of {looked_at} learner(s)")


def register(cli: click.Group) -> None:
    cli.add_command(tag)
