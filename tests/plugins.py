"""Test plugins, registered on a PluginHost exactly as an entry-point plugin would be."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acquis.core.events import (
    AdapterContext,
    AdapterSpec,
    AwardEvent,
    CheckResult,
    EmissionReceipt,
    SettingField,
    ValidationEvent,
)
from acquis.core.hookspecs import hookimpl


@dataclass(eq=False)  # pluggy keeps plugins in sets: identity hashing
class RecordingEmitter:
    """An emitter whose behaviour per call is scripted; it records what reached it.

    ``script`` is consumed one entry per emit_badge call: "ok", or an exception instance to
    raise. ``accept_then_fail`` simulates a remote side that issued the badge and then timed
    out: the badge counts as issued remotely even though the call raised.
    """

    name: str = "recorder"
    script: list[Any] = field(default_factory=list)
    issued: dict[str, int] = field(default_factory=dict)  # award public id → times issued remotely
    calls: list[tuple[str, str]] = field(default_factory=list)  # (establishment slug, award id)
    validated: list[tuple[str, int]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    check_fn: Callable[[AdapterContext], CheckResult] | None = None

    @hookimpl
    def adapter_spec(self) -> AdapterSpec:
        return AdapterSpec(
            name=self.name,
            title=f"Recording emitter {self.name}",
            settings=(
                SettingField("url", "Service URL", kind="url", required=True),
                SettingField("token", "API token", kind="secret", required=True),
            ),
            check=self.check_fn,
            emits_badges=True,
        )

    @hookimpl
    def emit_badge(self, ctx: AdapterContext, award: AwardEvent) -> EmissionReceipt | None:
        self.calls.append((ctx.establishment.slug, award.public_id))
        step = self.script.pop(0) if self.script else "ok"
        if step == "accept_then_fail":
            self.issued[award.public_id] = self.issued.get(award.public_id, 0) + 1
            from acquis.core.errors import OutcomeUnknownError

            raise OutcomeUnknownError("timed out after sending")
        if isinstance(step, BaseException):
            raise step
        self.issued[award.public_id] = self.issued.get(award.public_id, 0) + 1
        return EmissionReceipt(emitter=self.name, external_id=f"ext-{award.public_id}")

    @hookimpl
    def reconcile_emission(self, ctx: AdapterContext, award: AwardEvent) -> EmissionReceipt | None:
        self.reconciled.append(award.public_id)
        if self.issued.get(award.public_id):
            return EmissionReceipt(emitter=self.name, external_id=f"ext-{award.public_id}")
        return None

    @hookimpl
    def competency_validated(self, ctx: AdapterContext, validation: ValidationEvent) -> None:
        self.validated.append((ctx.establishment.slug, validation.id))

    @hookimpl
    def badge_revoked(self, ctx: AdapterContext, award: AwardEvent, receipt: EmissionReceipt | None) -> None:
        if receipt is not None and receipt.emitter == self.name:
            self.revoked.append(award.public_id)
