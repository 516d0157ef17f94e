"""The plugin contract of acquis: every hook an adapter may implement, and when it is called.

An adapter is a module (or object) registered under the entry-point group ``acquis.plugins``
whose functions carry ``@hookimpl``. The core calls only the adapters an establishment enabled.

How hooks are called
--------------------
* Broadcast hooks that tell adapters something happened (``activity_completed``,
  ``competency_validated``, ``validation_revoked``, ``badge_emitted``, ``badge_revoked``) are
  **delivered from the outbox**: the core writes one outbox message per enabled adapter that
  implements the hook, in the same transaction as the fact itself, and a worker calls the hook
  after commit. Each adapter is therefore called at least once per fact, after the fact is
  durable, and a failing adapter is retried without calling the others again. ``ctx.delivery_id``
  stays the same across retries: use it as an idempotency key towards remote systems.
* ``emit_badge`` is delivered the same way, once per award, with first-result-wins among the
  establishment's enabled emitters. Whenever an earlier attempt may have reached the remote
  side (it raised ``OutcomeUnknownError``, or its worker died holding the message),
  ``reconcile_emission`` is asked first; so ``emit_badge`` itself need not look anything up.
* ``adapter_spec`` and ``web_blueprints`` are asked at start-up; ``export_achievements`` during
  a request.

Delivery hooks report failure by raising ``acquis.core.errors.TransientDeliveryError`` (retry
with backoff), ``OutcomeUnknownError`` (reconcile, then retry) or ``PermanentDeliveryError``
(park the message for an admin). Any other exception counts as transient.
"""

from __future__ import annotations

from typing import Any

import pluggy

from acquis.core.events import (
    AdapterContext,
    AdapterSpec,
    AwardEvent,
    CompletionEvent,
    EmissionReceipt,
    ExportResult,
    LearnerRef,
    ValidationEvent,
)

PROJECT = "acquis"
ENTRY_POINT_GROUP = "acquis.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def adapter_spec() -> AdapterSpec:  # type: ignore[empty-body]
    """Declare the adapter: its name (the one used in ``acquis adapter enable NAME``), its
    settings schema, and a connection check the IT admin can run from the CLI or the console.
    Called once per plugin at start-up; every plugin must implement it."""


@hookspec
def activity_completed(ctx: AdapterContext, completion: CompletionEvent) -> None:
    """A completion fact was stored (new, deduplicated). Outbox-delivered, per adapter."""


@hookspec
def competency_validated(ctx: AdapterContext, validation: ValidationEvent) -> None:
    """A learner reached a competency level, after any jury approval. Outbox-delivered.
    The Moodle adapter writes the level back to Moodle's competency; Karuta adds it to the
    portfolio."""


@hookspec
def validation_revoked(ctx: AdapterContext, validation: ValidationEvent) -> None:
    """A validation was withdrawn (evidence uncompleted, a jury reversed). Outbox-delivered."""


@hookspec(firstresult=True)
def emit_badge(ctx: AdapterContext, award: AwardEvent) -> EmissionReceipt | None:
    """Issue ``award``. The first enabled emitter that returns a receipt wins; return None
    to let another emitter take it. Must be idempotent per ``award.public_id``."""


@hookspec(firstresult=True)
def emit_badges(ctx: AdapterContext, awards: list[AwardEvent]) -> dict[str, EmissionReceipt] | None:
    """Optional batch form of ``emit_badge``: issue several awards of one badge class in as few
    remote calls as the service allows (OBF: one event, many recipients). Return a receipt per
    award public id; raising applies to the whole batch. An emitter without it is called once
    per award. The core only batches awards whose earlier attempts cannot have reached the
    remote side."""


@hookspec(firstresult=True)
def reconcile_emission(ctx: AdapterContext, award: AwardEvent) -> EmissionReceipt | None:
    """An earlier ``emit_badge`` call may have gone through (timeout, 5xx after sending).
    Look the award up on the remote side: return its receipt if it was issued, None if not."""


@hookspec
def badge_emitted(ctx: AdapterContext, award: AwardEvent, receipt: EmissionReceipt) -> None:
    """An emitter confirmed issuance: push to a portfolio, the SIS, a notification…"""


@hookspec
def badge_revoked(ctx: AdapterContext, award: AwardEvent, receipt: EmissionReceipt | None) -> None:
    """An award was revoked; the emitter that issued it revokes it on its side."""


@hookspec(firstresult=True)
def export_achievements(
    ctx: AdapterContext, learner: LearnerRef, format: str, selection: dict[str, Any]
) -> ExportResult | None:
    """A student asked for an export in ``format`` (e.g. ``europass``); the adapter that knows
    the format builds it from ``selection`` (what the student chose to include:
    ``{"validation_ids": [...], "award_ids": [...]}``), reading them through ``ctx.session``."""


@hookspec
def web_blueprints() -> list[Any]:  # type: ignore[empty-body]
    """Flask blueprints the plugin serves (public verification pages, webhooks). Plugins that
    serve pages import Flask themselves; the core never does."""
