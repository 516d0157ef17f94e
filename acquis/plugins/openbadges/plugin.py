"""Hook implementations of the native issuer (entry point ``openbadges``)."""

from __future__ import annotations

from typing import Any

from acquis.core.events import (
    AdapterContext,
    AdapterSpec,
    AwardEvent,
    CheckResult,
    EmissionReceipt,
    SettingField,
)
from acquis.core.hookspecs import hookimpl
from acquis.plugins.openbadges import keys, recipient, urls

NAME = "openbadges"


@hookimpl
def adapter_spec() -> AdapterSpec:
    return AdapterSpec(
        name=NAME,
        title="Open Badges 2.0 and 3.0 (native issuer)",
        description=(
            "Issues Open Badges 2.0 with hosted verification at this server's public URL, and the "
            "same awards as Open Badges 3.0 credentials signed as VC-JWT; needs no external service."
        ),
        settings=(
            SettingField(
                name=keys.SETTING,
                label="Open Badges 3.0 signing key (RSA, PEM)",
                kind="pem",
                help=(
                    "Generated on first use when empty; set it only to bring your own key. "
                    "Several PEM blocks: the first signs, all are published (retired keys)."
                ),
            ),
        ),
        check=_check,
        emits_badges=True,
        priority=1000,
    )


def _check(ctx: AdapterContext) -> CheckResult:
    """Nothing remote to reach: what can be wrong is a signing key someone set by hand."""
    bundle = ctx.settings.get(keys.SETTING)
    if not bundle:
        return CheckResult(ok=True, message="OB 3.0 signing key: generated on first use")
    ring = keys.load_ring(str(bundle))  # raises with the reason; check() reports it
    kids = ", ".join(keys.public_jwk(k)["kid"] for k in ring)
    return CheckResult(ok=True, message=f"OB 3.0 signing keys (newest first): {kids}")


def _receipt(ctx: AdapterContext, award: AwardEvent) -> EmissionReceipt:
    kind, plain = recipient.plain_identity(award.learner, ctx.public_url)
    hashed = recipient.hashed(kind, plain)
    return EmissionReceipt(
        emitter=NAME,
        external_id=award.public_id,
        url=urls.assertion(ctx.public_url, award.public_id),
        data={"recipient_type": hashed.type, "identity": hashed.identity, "salt": hashed.salt},
    )


@hookimpl
def emit_badge(ctx: AdapterContext, award: AwardEvent) -> EmissionReceipt:
    # Issuing natively is publishing the assertion at its URL: the core records the receipt,
    # and the assertion is served from it. Nothing remote, so nothing to reconcile.
    return _receipt(ctx, award)


@hookimpl
def web_blueprints() -> list[Any]:
    from acquis.plugins.openbadges.web import bp, bp3

    return [bp, bp3]
