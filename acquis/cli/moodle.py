"""`acquis moodle …`: the Moodle web services adapter's own commands."""

from __future__ import annotations

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import adapters, establishments
from acquis.plugins.moodle.client import MoodleClient
from acquis.plugins.moodle.plugin import NAME, MoodlePlugin, config_of
from acquis.plugins.moodle.sync import import_tags, sync_completions


@click.group()
def moodle() -> None:
    """Moodle web services: catch up on completions, import activity–competency links as tags."""


def _client(slug: str) -> tuple[int, MoodleClient]:
    rt = cli_runtime.get()
    rt.host.spec(NAME)  # says which adapters are installed when this one is not
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        ctx = adapters.context(session, est, NAME, rt.settings.public_url)
    plugin = rt.host.pm.get_plugin(NAME)
    client = plugin.client(ctx) if isinstance(plugin, MoodlePlugin) else MoodleClient(config_of(ctx.settings))
    return est.id, client


@moodle.command("sync-completions")
@click.argument("slug")
@click.option("--course", "course_id", required=True, type=int, help="The Moodle course id.")
@friendly
def sync_completions_cmd(slug: str, course_id: int) -> None:
    """Read the completion states of every user enrolled in a course of SLUG's Moodle and feed
    them through the pipeline, as the xAPI feed would have; a rerun stores nothing twice."""
    rt = cli_runtime.get()
    est_id, client = _client(slug)
    try:
        users = list(client.enrolled_users(course_id))
        # The bar advances as sync_completions takes each user from it.
        with click.progressbar(users, label=f"course {course_id}") as bar:
            report = sync_completions(rt.db.session, rt.host, est_id, client, course_id, users=bar)
    finally:
        client.close()
    click.echo(
        f"{report.users} user(s), {report.statuses} completion state(s): {report.stored} stored, "
        f"{report.duplicates} already known, {report.skipped} incomplete or undated"
        + (f", {report.erased} of learners erased on request (dropped)" if report.erased else "")
    )


@moodle.command("import-tags")
@click.argument("slug")
@click.option("--course", "course_id", required=True, type=int, help="The Moodle course id.")
@click.option("--framework", required=True, help="Code of the framework imported from Moodle.")
@click.option("--level", help="Level (rank, code or label) the tags validate; default: the first.")
@friendly
def import_tags_cmd(slug: str, course_id: int, framework: str, level: str | None) -> None:
    """Tag the activities of a Moodle course with the competencies Moodle links them to, matching
    Moodle's competency idnumbers to the framework's codes."""
    rt = cli_runtime.get()
    _, client = _client(slug)
    try:
        with rt.db.session() as session:
            est = establishments.get(session, slug)
            report = import_tags(session, rt.host, est, client, course_id, framework, level)
    finally:
        client.close()
    for label, rows in (("created", report.created), ("kept", report.kept)):
        for activity, code, lv in rows:
            click.echo(f"{label}\t{activity}\t→ {code} {lv}")
    for activity, idnumber in report.unknown:
        click.echo(f"unknown\t{activity}\t{idnumber!r} is not a competency code of {framework}")
    if report.applied:
        click.echo(f"new tags applied to past completions ({report.applied} learner–tag pair(s))")


def register(cli: click.Group) -> None:
    cli.add_command(moodle)
