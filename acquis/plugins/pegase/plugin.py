"""Hook implementations of the Pégase adapter (entry point ``pegase``).

Pégase is read, not written: the adapter implements no delivery hook. Its work is done by the
CLI (``acquis pegase sync-learners`` and ``import-results``); the plugin declares the settings
and the connection check an IT admin runs before that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acquis.core.clients import ClientCache
from acquis.core.errors import DeliveryError, PermanentDeliveryError
from acquis.core.events import AdapterContext, AdapterSpec, CheckResult, SettingField
from acquis.core.hookspecs import hookimpl
from acquis.plugins.pegase.client import PegaseClient, PegaseConfig
from acquis.plugins.pegase.sync import DEFAULT_PASSING

NAME = "pegase"

SETTINGS = (
    SettingField(
        "auth_url",
        "CAS server URL",
        kind="url",
        required=True,
        help="e.g. https://authn-app.<env>.pc-scol.fr/cas",
    ),
    SettingField(
        "ins_url",
        "Inscriptions API (INS v2)",
        kind="url",
        required=True,
        help="e.g. https://ins.<env>.pc-scol.fr/api/ins/ext/v2",
    ),
    SettingField(
        "coc_url",
        "Results API (COC publication v2)",
        kind="url",
        required=True,
        help="e.g. https://coc.<env>.pc-scol.fr/api/coc/publication/v2",
    ),
    SettingField(
        "chc_url",
        "Cursus API (CHC v1)",
        kind="url",
        required=True,
        help="e.g. https://chc.<env>.pc-scol.fr/api/ext/chc/v1",
    ),
    SettingField(
        "username", "Technical account", required=True, help="a Pégase account with the APIs' rights"
    ),
    SettingField("password", "Password", kind="secret", required=True),
    SettingField(
        "structure", "Establishment structure code", required=True, help="codeStructure, e.g. ETAB00"
    ),
    SettingField("periode", "Default period", help="codePeriode, e.g. PER-2024"),
    SettingField(
        "passing_results",
        "Passing result codes",
        default=",".join(DEFAULT_PASSING),
        help="comma-separated codes of Pégase results that mean acquired (ADM by default)",
    ),
)


def _setting(settings: Mapping[str, Any], name: str) -> Any:
    value = settings.get(name)
    if value in (None, ""):
        return next(f for f in SETTINGS if f.name == name).default
    return value


def passing_results(settings: Mapping[str, Any]) -> tuple[str, ...]:
    raw = str(_setting(settings, "passing_results") or "")
    return tuple(c.strip() for c in raw.split(",") if c.strip()) or DEFAULT_PASSING


def config_of(settings: Mapping[str, Any], timeout: float = 30.0) -> PegaseConfig:
    missing = [f.name for f in SETTINGS if f.required and not _setting(settings, f.name)]
    if missing:
        raise PermanentDeliveryError(
            f"set {', '.join(missing)}: acquis adapter set <slug> pegase {missing[0]}=…"
        )
    return PegaseConfig(
        auth_url=str(settings["auth_url"]),
        ins_url=str(settings["ins_url"]),
        coc_url=str(settings["coc_url"]),
        chc_url=str(settings["chc_url"]),
        username=str(settings["username"]),
        password=str(settings["password"]),
        structure=str(settings["structure"]),
        timeout=timeout,
    )


class PegasePlugin:
    """The adapter; one client (and JWT) per establishment per process."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._clients: ClientCache[PegaseConfig, PegaseClient] = ClientCache(PegaseClient)

    def client(self, ctx: AdapterContext) -> PegaseClient:
        return self._clients.get(ctx.establishment.id, config_of(ctx.settings, self.timeout))

    @hookimpl
    def adapter_spec(self) -> AdapterSpec:
        return AdapterSpec(
            name=NAME,
            title="Pégase",
            description=(
                "Reads inscriptions, formations and published results from Pégase: maps students "
                "to LMS learners (INE, code apprenant, email) and rates certification blocks."
            ),
            settings=SETTINGS,
            check=self.check,
        )

    def check(self, ctx: AdapterContext) -> CheckResult:
        """Log in, then read one page of inscriptions: each step names what to fix."""
        try:
            client = self.client(ctx)
            client.token()
        except DeliveryError as exc:
            return CheckResult(ok=False, message=f"login: {exc}")
        try:
            body = client.get(
                client.config.ins_url,
                "/gestion/flux-inscriptions/pagine",
                {"page": 0, "taille": 1},
                api="INS",
            )
        except DeliveryError as exc:
            return CheckResult(ok=False, message=f"inscriptions (ins_url): {exc}")
        if not isinstance(body, dict) or "totalElements" not in body:
            return CheckResult(
                ok=False,
                message="ins_url answers, but not as Pégase INS v2: it must end with /api/ins/ext/v2",
            )
        total = body["totalElements"]
        return CheckResult(
            ok=True,
            message=f"connected to Pégase as {client.config.username}; {total} inscription(s) readable",
            details={"inscriptions": total},
        )


plugin = PegasePlugin()  # what the entry point registers
