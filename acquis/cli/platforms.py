"""`acquis platform …`: LTI 1.3 platforms (Moodle sites) registered by hand."""

from __future__ import annotations

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import establishments, platforms


@click.group()
def platform() -> None:
    """LTI 1.3 platforms (Moodle sites) that launch acquis."""


@platform.command("add")
@click.argument("slug")
@click.option(
    "--issuer", required=True, help="Platform ID in Moodle's tool details, e.g. https://moodle.example.fr"
)
@click.option("--client-id", required=True, help="Client ID that Moodle gave the tool.")
@click.option(
    "--deployment-id", "deployment_ids", multiple=True, required=True, help="Repeat for each deployment."
)
@click.option("--auth-login-url", required=True, help="Authentication request URL (…/mod/lti/auth.php).")
@click.option("--token-url", required=True, help="Access token URL (…/mod/lti/token.php).")
@click.option("--jwks-url", required=True, help="Public keyset URL (…/mod/lti/certs.php).")
@friendly
def add(
    slug: str,
    issuer: str,
    client_id: str,
    deployment_ids: tuple[str, ...],
    auth_login_url: str,
    token_url: str,
    jwks_url: str,
) -> None:
    """Register a platform for establishment SLUG with the values shown in Moodle's tool details."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        platforms.add_manual(
            session,
            establishments.get(session, slug),
            issuer,
            client_id,
            deployment_ids,
            auth_login_url,
            token_url,
            jwks_url,
        )
    click.echo(f"platform {issuer} registered for {slug} ({len(deployment_ids)} deployment(s))")


@platform.command("list")
@click.argument("slug", required=False)
@friendly
def list_(slug: str | None) -> None:
    """List registered platforms, for one establishment or all."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        rows = platforms.listing(session, establishments.get(session, slug).id if slug else None)
        if not rows:
            click.echo("no platform registered: acquis platform add SLUG --issuer … (see --help)")
        for p, est_slug in rows:
            deployments = ",".join(d.deployment_id for d in p.deployments)
            click.echo(
                f"{est_slug}\t{p.issuer}\tclient {p.client_id}\tdeployments {deployments}\t{p.registered_by}"
            )


def register(cli: click.Group) -> None:
    cli.add_command(platform)
