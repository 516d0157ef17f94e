"""The `acquis` command: serve, worker, db, establishment, adapter, platform, framework, tag, award."""

from __future__ import annotations

import click

from acquis.cli import (
    adapters,
    admins,
    awards,
    db,
    establishments,
    europass,
    frameworks,
    learners,
    lti,
    moodle,
    obf,
    pegase,
    platforms,
    serve,
    tags,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="acquis")
def cli() -> None:
    """acquis: LMS activity → competencies → Open Badges, carried where they are needed.

    Configuration comes from the environment: ACQUIS_INSTANCE_PATH (database, keys),
    ACQUIS_DATABASE_URL (PostgreSQL in scaled mode), ACQUIS_PUBLIC_URL (the URL badges point to).
    """


for _module in (
    serve,
    db,
    establishments,
    adapters,
    admins,
    platforms,
    frameworks,
    tags,
    awards,
    learners,
    obf,
    lti,
    europass,
    moodle,
    pegase,
):
    _module.register(cli)


def main() -> None:
    cli(prog_name="acquis")
