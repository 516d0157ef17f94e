"""`acquis pegase …`: read learners and results from the establishment's Pégase."""

from __future__ import annotations

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import adapters, establishments
from acquis.core.errors import InvalidInput
from acquis.core.events import AdapterContext
from acquis.plugins.pegase.client import PegaseClient
from acquis.plugins.pegase.plugin import NAME, PegasePlugin, config_of, passing_results
from acquis.plugins.pegase.sync import import_results, sync_learners


@click.group()
def pegase() -> None:
    """Pégase: map students to LMS learners, and rate certification blocks from published results."""


def _client(ctx: AdapterContext) -> PegaseClient:
    plugin = cli_runtime.get().host.pm.get_plugin(NAME)
    return plugin.client(ctx) if isinstance(plugin, PegasePlugin) else PegaseClient(config_of(ctx.settings))


def _periode(ctx: AdapterContext, given: str | None) -> str:
    periode = given or str(ctx.settings.get("periode") or "")
    if not periode:
        raise InvalidInput("give --periode, or set the adapter's periode setting", field="--periode")
    return periode


def _parse_map(items: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"{item!r}: write PEGASE_OBJECT_CODE=COMPETENCY_CODE", field="--map")
        mapping[key.strip()] = value.strip()
    return mapping


@pegase.command("sync-learners")
@click.argument("slug")
@click.option("--periode", help="codePeriode (default: the adapter's periode setting)")
@friendly
def sync_learners_cmd(slug: str, periode: str | None) -> None:
    """Attach Pégase identifiers (code apprenant, INE) to SLUG's learners, matched by email."""
    rt = cli_runtime.get()
    rt.host.spec(NAME)
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        ctx = adapters.context(session, est, NAME, rt.settings.public_url)
        client = _client(ctx)
        report = sync_learners(session, est, client.iter_inscriptions(_periode(ctx, periode)))
    click.echo(f"{len(report.matched)} learner(s) matched, {report.added} identifier(s) added")
    for code in report.unmatched:
        click.echo(f"unmatched\t{code}\tno learner with this INE, code or email has used the LMS yet")
    for message in report.conflicts:
        click.echo(f"conflict\t{message}")


@pegase.command("import-results")
@click.argument("slug")
@click.argument("framework")
@click.option("--chemin", required=True, help="the root codeChemin, e.g. the formation code LIC-INFO")
@click.option("--periode", help="codePeriode (default: the adapter's periode setting)")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="PEGASE_OBJECT_CODE=COMPETENCY_CODE",
    help="Rate a competency from a Pégase object of another code (repeatable).",
)
@friendly
def import_results_cmd(
    slug: str, framework: str, chemin: str, periode: str | None, maps: tuple[str, ...]
) -> None:
    """Rate FRAMEWORK's block competencies for SLUG's mapped learners from published Pégase results."""
    mapping = _parse_map(maps)
    rt = cli_runtime.get()
    rt.host.spec(NAME)
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        ctx = adapters.context(session, est, NAME, rt.settings.public_url)
        report = import_results(
            session,
            est,
            _client(ctx),
            framework,
            _periode(ctx, periode),
            chemin,
            mapping,
            passing_results(ctx.settings),
        )
    click.echo(f"{len(report.rated)} rating(s) recorded, {report.unchanged} unchanged")
    for learner_id, competency, rating in report.rated:
        click.echo(f"rated\tlearner {learner_id}\t{competency}\t{rating}")
    for learner_id, competency in report.pending:
        click.echo(f"pending\tlearner {learner_id}\t{competency}\tno published final result yet")
    for code in report.missing:
        click.echo(f"missing\t{code}\tPégase has no results for this student in this period and chemin")
    for learner_id, outcome in sorted(report.outcomes.items()):
        click.echo(f"outcome\tlearner {learner_id}\t{outcome}")


def register(cli: click.Group) -> None:
    cli.add_command(pegase)
