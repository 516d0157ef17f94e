"""Hook implementations of the OpenBadge Factory emitter (entry point ``obf``).

Exactly once towards OBF: OBF takes no idempotency key, so every issuance carries our award's
public id in ``log_entry`` and is looked up (by api_consumer_id, badge and recipient) before
anything is issued, both when the core reconciles an unknown outcome and at the start of every
``emit_badge``, which covers a worker that died between OBF's answer and the core's commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from acquis.core.errors import DeliveryError, PermanentDeliveryError
from acquis.core.events import (
    AdapterContext,
    AdapterSpec,
    AwardEvent,
    CheckResult,
    EmissionReceipt,
    SettingField,
)
from acquis.core.hookspecs import hookimpl
from acquis.plugins.obf.client import (
    DEFAULT_API_URL,
    ClientCache,
    IssueRequest,
    OBFClient,
    OBFConfig,
    Recipient,
    client_cache,
)

NAME = "obf"
LOG_KEY = "acquis_award"  # the key of our award public id in OBF's log_entry
BATCH_LOG_KEY = "acquis_awards"  # the public ids of the awards of one batched event

SETTINGS = (
    SettingField(
        "api_url",
        "OBF API URL",
        kind="url",
        default=DEFAULT_API_URL,
        help="https://openbadgefactory.com, or your OBF instance (e.g. a national one)",
    ),
    SettingField("api_version", "API version", kind="choice", default="v2", choices=("v2", "v1")),
    SettingField(
        "client_id",
        "Client id",
        required=True,
        help="OBF: Admin tools > API; the id of the organisation's API client",
    ),
    SettingField(
        "client_secret",
        "Client secret",
        kind="secret",
        help="OBF: Admin tools > API > OAuth2 client credentials",
    ),
    SettingField(
        "certificate",
        "Client certificate (legacy v1)",
        kind="pem",
        help="only for OBF's legacy certificate authentication; leave empty with OAuth2",
    ),
    SettingField("private_key", "Certificate private key (legacy v1)", kind="pem"),
    SettingField("send_email", "OBF emails the badge to the learner", kind="boolean", default=True),
    SettingField("email_subject", "Email subject", help="empty: the badge's own text in OBF"),
    SettingField("email_body", "Email body"),
    SettingField("email_link_text", "Email link text"),
    SettingField("email_footer", "Email footer"),
    SettingField(
        "timeout",
        "HTTP timeout (seconds)",
        kind="integer",
        default=30,
        help="how long to wait for OBF before the outcome is taken as unknown and reconciled",
    ),
)


def _setting(settings: Mapping[str, Any], name: str) -> Any:
    """A setting's value, falling back on the declared default (the context carries only what
    an admin set)."""
    value = settings.get(name)
    if value in (None, ""):
        f = next(f for f in SETTINGS if f.name == name)
        return f.default
    return value


def config_of(settings: Mapping[str, Any], timeout: float = 30.0) -> OBFConfig:
    client_id = _setting(settings, "client_id")
    secret = _setting(settings, "client_secret")
    cert, key = _setting(settings, "certificate"), _setting(settings, "private_key")
    if not client_id:
        raise PermanentDeliveryError("set the OBF client id: acquis adapter set <slug> obf client_id=…")
    if not secret and not (cert and key):
        raise PermanentDeliveryError(
            "set the OBF client secret (acquis adapter set <slug> obf client_secret=…), "
            "or for legacy v1 keys a certificate and private_key"
        )
    version = str(_setting(settings, "api_version"))
    if version not in ("v1", "v2"):
        raise PermanentDeliveryError(f"api_version must be v1 or v2, not {version!r}")
    return OBFConfig(
        client_id=str(client_id),
        client_secret=str(secret) if secret else None,
        api_url=str(_setting(settings, "api_url")),
        api_version="v1" if version == "v1" else "v2",
        certificate=str(cert) if cert else None,
        private_key=str(key) if key else None,
        timeout=timeout,
    )


class OBFPlugin:
    """The adapter; one instance per process keeps a client (and its token) per establishment.

    ``timeout`` is the HTTP read timeout in seconds (tests use a fraction of a second).
    """

    def __init__(
        self, timeout: float = 30.0, clients: ClientCache[OBFConfig, OBFClient] | None = None
    ) -> None:
        self.timeout = timeout
        self.clients = clients or client_cache()

    def client(self, ctx: AdapterContext) -> OBFClient:
        # The establishment's setting wins over the process default (tests use a fraction of a second).
        configured = ctx.settings.get("timeout")
        timeout = float(configured) if isinstance(configured, int) and configured > 0 else self.timeout
        return self.clients.get(ctx.establishment.id, config_of(ctx.settings, timeout))

    @hookimpl
    def adapter_spec(self) -> AdapterSpec:
        return AdapterSpec(
            name=NAME,
            title="OpenBadge Factory",
            description=(
                "Issues badges through the establishment's OpenBadge Factory account; each badge "
                "class must be mapped to an OBF badge (acquis obf sync-badges)."
            ),
            settings=SETTINGS,
            check=self.check,
            emits_badges=True,
            priority=100,  # before the native issuer (1000): enabling OBF means OBF badges
        )

    def check(self, ctx: AdapterContext) -> CheckResult:
        try:
            client = self.client(ctx)
            client.ping()
            badges = client.list_badges()
        except DeliveryError as exc:
            return CheckResult(ok=False, message=str(exc))
        return CheckResult(
            ok=True,
            message=(
                f"connected to OBF ({client.config.api_version}) as client {client.config.client_id}; "
                f"{len(badges)} badge(s) ready to issue"
            ),
            details={"badges": len(badges)},
        )

    # ---- issuing -----------------------------------------------------------------------------
    @staticmethod
    def _require(award: AwardEvent) -> tuple[str, str]:
        badge_id = award.badge_class.obf_badge_id
        if not badge_id:
            raise PermanentDeliveryError(
                f"badge class {award.badge_class.name!r} ({award.badge_class.public_id}) has no OBF "
                "badge: map the badge class to an OBF badge (acquis obf sync-badges <slug> "
                f"--map {award.badge_class.public_id}=<OBF badge id>), then retry"
            )
        email = award.learner.email
        if not email:
            raise PermanentDeliveryError(
                f"learner {award.learner.display_name!r} has no email address, and OBF delivers "
                "badges by email: have the LMS send it (xAPI actor mbox, or the LTI email claim), "
                "then retry"
            )
        return badge_id, email

    @staticmethod
    def _receipt(client: OBFClient, event_id: str, badge_id: str, email: str) -> EmissionReceipt:
        return EmissionReceipt(
            emitter=NAME,
            external_id=event_id,
            data={
                "event_id": event_id,
                "badge_id": badge_id,
                "email": email,  # the recipient to revoke, even if the learner's email changes
                "api_version": client.config.api_version,
                "client_id": client.config.client_id,
            },
        )

    def _lookup(self, client: OBFClient, award: AwardEvent, badge_id: str, email: str) -> str | None:
        for event, entry in client.iter_events_with_log(badge_id, email):
            batched = entry.get(BATCH_LOG_KEY)
            if entry.get(LOG_KEY) == award.public_id or (
                isinstance(batched, list) and award.public_id in batched
            ):
                return event.id
        return None

    def _request(self, ctx: AdapterContext, awards: Sequence[AwardEvent]) -> IssueRequest:
        """One issue call for ``awards`` (all of one badge): the log entry names every award."""
        s = ctx.settings
        first = awards[0]
        log_entry: dict[str, Any] = {
            "badge_class": first.badge_class.public_id,
            "establishment": ctx.establishment.slug,
            "wwwroot": ctx.public_url,
        }
        if len(awards) == 1:
            log_entry[LOG_KEY] = first.public_id
        else:
            log_entry[BATCH_LOG_KEY] = [a.public_id for a in awards]
        return IssueRequest(
            recipients=tuple(Recipient(self._require(a)[1], a.learner.display_name) for a in awards),
            issued_on=first.created_at,
            expires_on=first.expires_at,
            log_entry=log_entry,
            send_email=bool(_setting(s, "send_email")),
            email_subject=_setting(s, "email_subject"),
            email_body=_setting(s, "email_body"),
            email_link_text=_setting(s, "email_link_text"),
            email_footer=_setting(s, "email_footer"),
        )

    @hookimpl
    def emit_badge(self, ctx: AdapterContext, award: AwardEvent) -> EmissionReceipt:
        badge_id, email = self._require(award)
        client = self.client(ctx)
        # No look-up here: the core asks reconcile_emission first whenever an earlier attempt
        # may have reached OBF (an unknown outcome, or a worker that died holding the award).
        event_id = client.issue(badge_id, self._request(ctx, [award]))
        return self._receipt(client, event_id, badge_id, email)

    @hookimpl
    def emit_badges(self, ctx: AdapterContext, awards: list[AwardEvent]) -> dict[str, EmissionReceipt]:
        """Many awards of one badge in one OBF event: one call instead of one per recipient."""
        badge_ids = {self._require(a)[0] for a in awards}
        if len(badge_ids) != 1:
            raise PermanentDeliveryError("a batch must be of one OBF badge")  # the core groups by badge class
        emails = [self._require(a)[1] for a in awards]
        if len(set(emails)) != len(emails):
            # One recipient twice in one event cannot be told apart on revocation: issue apart.
            return {a.public_id: self.emit_badge(ctx, a) for a in awards}
        client = self.client(ctx)
        badge_id = badge_ids.pop()
        event_id = client.issue(badge_id, self._request(ctx, awards))
        return {
            a.public_id: self._receipt(client, event_id, badge_id, e)
            for a, e in zip(awards, emails, strict=True)
        }

    @hookimpl
    def reconcile_emission(self, ctx: AdapterContext, award: AwardEvent) -> EmissionReceipt | None:
        badge_id, email = award.badge_class.obf_badge_id, award.learner.email
        if not badge_id or not email:
            return None  # emit_badge refused it before calling OBF
        client = self.client(ctx)
        found = self._lookup(client, award, badge_id, email)
        return self._receipt(client, found, badge_id, email) if found is not None else None

    @hookimpl
    def badge_revoked(self, ctx: AdapterContext, award: AwardEvent, receipt: EmissionReceipt | None) -> None:
        if receipt is None or receipt.emitter != NAME or not receipt.external_id:
            return
        email = receipt.data.get("email") or award.learner.email
        if not email:
            return
        self.client(ctx).revoke(receipt.external_id, [str(email)])


plugin = OBFPlugin()  # what the entry point registers
