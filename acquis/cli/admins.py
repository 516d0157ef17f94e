"""`acquis admin …`: local administrator accounts, for the first set-up before any Moodle launch."""

from __future__ import annotations

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import admins


@click.group()
def admin() -> None:
    """Local administrators of the web console (<public url>/admin); they see every establishment."""


@admin.command("add-user")
@click.argument("email")
@click.option("--generate", is_flag=True, help="Generate a password and print it once, instead of asking.")
@friendly
def add_user(email: str, generate: bool) -> None:
    """Create administrator EMAIL; the password is asked twice (or generated), and stored hashed."""
    if generate:
        password = admins.generate_password()
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    rt = cli_runtime.get()
    with rt.db.session() as session:
        user = admins.add_user(session, email, password)
        click.echo(f"administrator {user.email} created; sign in at {rt.settings.public_url}/admin/login")
    if generate:
        click.echo(f"password: {password}")
        click.echo("(shown only now)")


def register(cli: click.Group) -> None:
    cli.add_command(admin)
