"""`acquis platform …`: LTI 1.3 platforms (Moodle sites) registered by hand."""

from __future__ import annotations

from urllib.parse import urlparse

import click
from sqlalchemy import select

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import establishments
from acquis.core.errors import Conflict, InvalidInput
from acquis.core.models import Establishment, LtiDeployment, LtiPlatform


def _url(value: str, field: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput("expected an http(s) URL", field=field)
    return value


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
    _url(issuer, "issuer")
    for value, field in (
        (auth_login_url, "auth-login-url"),
        (token_url, "token-url"),
        (jwks_url, "jwks-url"),
    ):
        _url(value, field)
    if not client_id.strip():
        raise InvalidInput("must not be empty", field="client-id")
    if len(set(deployment_ids)) != len(deployment_ids):
        raise InvalidInput("a deployment id is given twice", field="deployment-id")
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        taken = session.scalar(
            select(LtiPlatform.id).where(LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id)
        )
        if taken is not None:
            raise Conflict(f"platform {issuer} with client id {client_id} is already registered")
        session.add(
            LtiPlatform(
                establishment_id=est.id,
                issuer=issuer,
                client_id=client_id,
                auth_login_url=auth_login_url,
                auth_token_url=token_url,
                jwks_url=jwks_url,
                deployments=[LtiDeployment(deployment_id=d) for d in deployment_ids],
            )
        )
    click.echo(f"platform {issuer} registered for {slug} ({len(deployment_ids)} deployment(s))")


@platform.command("list")
@click.argument("slug", required=False)
@friendly
def list_(slug: str | None) -> None:
    """List registered platforms, for one establishment or all."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        query = select(LtiPlatform, Establishment.slug).join(Establishment).order_by(LtiPlatform.id)
        if slug:
            query = query.where(LtiPlatform.establishment_id == establishments.get(session, slug).id)
        rows = session.execute(query).all()
        if not rows:
            click.echo("no platform registered: acquis platform add SLUG --issuer … (see --help)")
        for p, est_slug in rows:
            deployments = ",".join(d.deployment_id for d in p.deployments)
            click.echo(
                f"{est_slug}\t{p.issuer}\tclient {p.client_id}\tdeployments {deployments}\t{p.registered_by}"
            )


def register(cli: click.Group) -> None:
    cli.add_command(platform)
