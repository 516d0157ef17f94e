"""`acquis learner export|erase`: a learner's data, given on request and erased on request."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import erasure, establishments, learner_export
from acquis.core.delivery import Deliverer
from acquis.core.errors import InvalidInput
from acquis.core.models import Learner
from acquis.core.worker import worker_id

LEARNER = click.option(
    "--learner", "identifier", required=True, help="An identifier (Moodle user id, INE…) or email."
)
SYSTEM = click.option(
    "--system", help="The identifier's system when the value is ambiguous (xapi:<Moodle URL>…)."
)


@click.group()
def learner() -> None:
    """A learner's data: export it, or erase it (GDPR articles 15, 17 and 20)."""


@learner.command("export")
@click.argument("slug")
@LEARNER
@SYSTEM
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (mode 0600)."
)
@friendly
def export(slug: str, identifier: str, system: str | None, output: Path | None) -> None:
    """Everything held about one learner of SLUG, as one JSON document."""
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        doc = learner_export.export(session, est, learner_export.find(session, est, identifier, system))
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InvalidInput(f"cannot write {output}: {exc}") from None
    click.echo(f"learner data written to {output}")


@learner.command("erase")
@click.argument("slug")
@LEARNER
@SYSTEM
@click.option("--yes", "confirmed", is_flag=True, help="Confirm: this cannot be undone.")
@click.option(
    "--wait",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0, 600),
    help="Seconds to wait for the remote revocations before giving up (run again later).",
)
@friendly
def erase(slug: str, identifier: str, system: str | None, confirmed: bool, wait: float) -> None:
    """Revoke a learner's badges everywhere, then erase their personal data from SLUG."""
    if not confirmed:
        raise click.UsageError("erasing cannot be undone: add --yes to confirm")
    rt = cli_runtime.get()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        person = learner_export.find(session, est, identifier, system)
        learner_id = person.id
        owed = erasure.request_erasure(session, rt.host, est, person)
    click.echo(
        f"badges and validations of learner {learner_id} revoked; {len(owed)} remote revocation(s) to send"
    )
    deliverer = Deliverer.configured(rt.db, rt.host, worker_id("erase"), rt.settings.public_url)
    deadline = time.monotonic() + wait
    while owed:
        for message_id in deliverer.claim(limit=len(owed), ids=[o.message_id for o in owed]):
            deliverer.deliver(message_id)
        with rt.db.session() as session:
            owed = erasure.owed_revocations(session, learner_id)
        if not owed or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if owed:
        for o in owed:
            click.echo(
                f"  not delivered: {o.topic} → {o.plugin}: {o.last_error or 'waiting for a retry'}", err=True
            )
        raise click.ClickException(
            "personal data kept until every revocation is delivered: fix what is said above, "
            "then run the same command again"
        )
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        erased = session.get(Learner, learner_id)
        assert erased is not None
        counts = erasure.complete_erasure(session, est, erased)
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()) if n)
    click.echo(f"learner {learner_id} erased ({summary or 'no other rows'})")


def register(cli: click.Group) -> None:
    cli.add_command(learner)
