"""Hook implementations of the Karuta adapter (entry point ``karuta``).

Each issued badge (``badge_emitted``) and each validated competency level
(``competency_validated``) becomes one asmUnit under the root of the student's portfolio:

    asmUnit        nodeRes: code = our key, label = the badge or competency
                   (semantictag acquis-badge or acquis-competency)
      asmContext   URL resource: the badge's public page (semantictag acquis-link)
      asmContext   Field resource: what was achieved, when and on what evidence (semantictag acquis-text)

Idempotence rests on the key in the unit's nodeRes ``code`` (``acquis-badge-<award public id>``,
``acquis-competency-<framework>-<competency>-<level rank>``): every push reads the portfolio
first, updates the unit holding its key if there is one, and adds it only if there is none. A
retry after a lost answer therefore finds what the first attempt wrote. One unit per level
(rather than one per competency raised to the latest level) keeps the portfolio right whatever
order the outbox delivers levels in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from acquis.core.clients import ClientCache
from acquis.core.errors import DeliveryError, PermanentDeliveryError
from acquis.core.events import (
    AdapterContext,
    AdapterSpec,
    AwardEvent,
    CheckResult,
    EmissionReceipt,
    LearnerRef,
    SettingField,
    ValidationEvent,
)
from acquis.core.hookspecs import hookimpl
from acquis.plugins.karuta.client import KarutaClient, KarutaConfig

NAME = "karuta"
TAG_BADGE = "acquis-badge"
TAG_COMPETENCY = "acquis-competency"
TAG_LINK = "acquis-link"
TAG_TEXT = "acquis-text"
DEFAULT_CODE = "{email_local}-portfolio"

SETTINGS = (
    SettingField(
        "url",
        "Karuta REST URL",
        kind="url",
        required=True,
        help="e.g. https://karuta.univ.fr/karuta-backend/rest/api",
    ),
    SettingField(
        "login", "Karuta account", required=True, help="an account allowed to write in students' portfolios"
    ),
    SettingField("password", "Password", kind="secret", required=True),
    SettingField(
        "portfolio_code",
        "Student portfolio code",
        default=DEFAULT_CODE,
        help=(
            "the code of each student's portfolio, from their identifiers: {email}, {email_local}, "
            "{learner_id}, or any identifier system with ':' as '_' "
            "(e.g. {pegase_ine}, {pegase_code_apprenant})"
        ),
    ),
    SettingField("check_portfolio", "Portfolio code the check reads (optional)"),
)


def _setting(settings: Mapping[str, Any], name: str) -> Any:
    value = settings.get(name)
    if value in (None, ""):
        return next(f for f in SETTINGS if f.name == name).default
    return value


def config_of(settings: Mapping[str, Any], timeout: float = 30.0) -> KarutaConfig:
    missing = [f.name for f in SETTINGS if f.required and not _setting(settings, f.name)]
    if missing:
        raise PermanentDeliveryError(
            f"set {', '.join(missing)}: acquis adapter set <slug> karuta {missing[0]}=…"
        )
    return KarutaConfig(str(settings["url"]), str(settings["login"]), str(settings["password"]), timeout)


def portfolio_code(settings: Mapping[str, Any], learner: LearnerRef) -> str:
    """The student's portfolio code from the template; a missing identifier is a permanent error."""
    values: dict[str, str] = {"learner_id": str(learner.id)}
    if learner.email:
        values["email"] = learner.email
        values["email_local"] = learner.email.split("@", 1)[0]
    for system, value in learner.identifiers.items():
        values[re.sub(r"[^A-Za-z0-9_]", "_", system)] = value
    template = str(_setting(settings, "portfolio_code"))
    try:
        code = template.format_map(values)
    except KeyError as exc:
        raise PermanentDeliveryError(
            f"learner {learner.display_name!r} has no {exc.args[0]} for the portfolio_code {template!r}: "
            "map the learner (e.g. acquis pegase sync-learners) or change portfolio_code, then retry"
        ) from None
    except (ValueError, IndexError) as exc:
        raise PermanentDeliveryError(f"portfolio_code {template!r} is not a valid template: {exc}") from None
    return code


# ---- the XML Karuta stores ---------------------------------------------------------------------


def _meta(node: etree._Element, tag: str) -> None:
    etree.SubElement(node, "metadata", semantictag=tag, sharedNode="N", sharedNodeResource="N")
    etree.SubElement(node, "metadata-wad", seenoderoles="all", editnoderoles="", delnoderoles="")
    etree.SubElement(node, "metadata-epm")


def node_res(code: str, label: str, lang: str) -> etree._Element:
    res = etree.Element("asmResource", xsi_type="nodeRes")
    etree.SubElement(res, "code").text = code
    etree.SubElement(res, "label", lang=lang).text = label
    etree.SubElement(res, "description")
    return res


def url_res(url: str, label: str, lang: str) -> etree._Element:
    res = etree.Element("asmResource", xsi_type="URL")
    etree.SubElement(res, "label", lang=lang).text = label
    etree.SubElement(res, "url", lang=lang).text = url
    return res


def field_res(text: str, lang: str) -> etree._Element:
    res = etree.Element("asmResource", xsi_type="Field")
    etree.SubElement(res, "text", lang=lang).text = text
    return res


def _context(key: str, tag: str, label: str, resource: etree._Element, lang: str) -> etree._Element:
    ctx = etree.Element("asmContext")
    _meta(ctx, tag)
    ctx.append(node_res(f"{key}/{tag}", label, lang))
    etree.SubElement(ctx, "asmResource", xsi_type="context")
    ctx.append(resource)
    return ctx


class Entry:
    """What one push writes: the unit's key, tag and title, its link and its text."""

    def __init__(self, key: str, tag: str, title: str, url: str | None, text: str) -> None:
        self.key, self.tag, self.title, self.url, self.text = key, tag, title, url, text

    def unit(self, lang: str) -> etree._Element:
        unit = etree.Element("asmUnit")
        _meta(unit, self.tag)
        unit.append(node_res(self.key, self.title, lang))
        etree.SubElement(unit, "asmResource", xsi_type="context")
        for child in self.contexts(lang).values():
            unit.append(child)
        return unit

    def resources(self, lang: str) -> dict[str, etree._Element]:
        out = {TAG_TEXT: field_res(self.text, lang)}
        if self.url:
            out[TAG_LINK] = url_res(self.url, self.title, lang)
        return out

    def contexts(self, lang: str) -> dict[str, etree._Element]:
        labels = {
            TAG_LINK: "Lien" if lang == "fr" else "Link",
            TAG_TEXT: "Détail" if lang == "fr" else "Details",
        }
        return {
            tag: _context(self.key, tag, labels[tag], res, lang) for tag, res in self.resources(lang).items()
        }


def _node_code(node: etree._Element) -> str | None:
    for res in node.findall("asmResource"):
        if res.get("xsi_type") == "nodeRes":
            return res.findtext("code")
    return None


def _tag(node: etree._Element) -> str | None:
    meta = node.find("metadata")
    return meta.get("semantictag") if meta is not None else None


def push(client: KarutaClient, code: str, entry: Entry, lang: str, create: bool = True) -> str | None:
    """Add ``entry`` to the portfolio ``code``, or update the unit already holding its key;
    with ``create=False`` only update (a revocation of something never pushed adds nothing)."""
    portfolio = client.portfolio(code)
    root = portfolio if portfolio.tag == "asmRoot" else portfolio.find(".//asmRoot")
    if root is None or not root.get("id"):
        raise PermanentDeliveryError(f"the Karuta portfolio {code!r} has no root node: is it a portfolio?")
    existing = next(
        (u for u in root.iter("asmUnit") if _node_code(u) == entry.key and u.get("id")),
        None,
    )
    if existing is None:
        return client.add_node(str(root.get("id")), entry.unit(lang)) if create else None
    unit_id = str(existing.get("id"))
    client.put_node_resource(unit_id, node_res(entry.key, entry.title, lang))
    contexts = {_tag(c): c for c in existing.findall("asmContext")}
    for tag, resource in entry.resources(lang).items():
        ctx = contexts.get(tag)
        if ctx is None or not ctx.get("id"):
            client.add_node(unit_id, entry.contexts(lang)[tag])  # someone removed it in Karuta
        else:
            client.put_resource(str(ctx.get("id")), resource)
    return unit_id


def _lang(ctx: AdapterContext) -> str:
    return (ctx.establishment.locale or "fr")[:2].lower()


def badge_entry(ctx: AdapterContext, award: AwardEvent, receipt: EmissionReceipt) -> Entry:
    badge = award.badge_class
    if receipt.url:
        url: str | None = receipt.url
    elif receipt.emitter == "openbadges":
        url = f"{ctx.public_url}/ob/v2/assertions/{award.public_id}"  # the native issuer's stable URL
    else:
        url = f"{ctx.public_url}/ob/v2/badges/{badge.public_id}"
    text = (
        f"{badge.description}\n\nCritères : {badge.criteria}\n"
        f"Délivré le {award.created_at.date().isoformat()} par {ctx.establishment.name}"
        + (f", valable jusqu'au {award.expires_at.date().isoformat()}" if award.expires_at else "")
    )
    return Entry(f"acquis-badge-{award.public_id}", TAG_BADGE, badge.name, url, text)


def competency_entry(ctx: AdapterContext, v: ValidationEvent) -> Entry:
    title = f"{v.competency_title} — {v.level_label}"
    text = (
        f"Compétence {v.competency_code} ({v.framework_code}), niveau {v.level_rank} « {v.level_label} » "
        f"validé par {ctx.establishment.name} ({v.method})."
    )
    return Entry(
        f"acquis-competency-{v.framework_code}-{v.competency_code}-{v.level_rank}",
        TAG_COMPETENCY,
        title,
        None,
        text,
    )


def revoked(entry: Entry, reason: str | None) -> Entry:
    """The same unit, marked: the student keeps the trace, and a reader cannot mistake it."""
    why = f" Motif : {reason}" if reason else ""
    return Entry(
        entry.key, entry.tag, f"[Révoqué] {entry.title}", entry.url, f"Révoqué.{why}\n\n{entry.text}"
    )


class KarutaPlugin:
    """The adapter; one client (and Karuta session) per establishment per process."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._clients: ClientCache[KarutaConfig, KarutaClient] = ClientCache(KarutaClient)

    def client(self, ctx: AdapterContext) -> KarutaClient:
        return self._clients.get(ctx.establishment.id, config_of(ctx.settings, self.timeout))

    @hookimpl
    def adapter_spec(self) -> AdapterSpec:
        return AdapterSpec(
            name=NAME,
            title="Karuta",
            description=(
                "Adds each issued badge and validated competency to the student's Karuta portfolio, "
                "and marks them there when they are revoked."
            ),
            settings=SETTINGS,
            check=self.check,
        )

    def check(self, ctx: AdapterContext) -> CheckResult:
        try:
            client = self.client(ctx)
            client.login()
        except DeliveryError as exc:
            return CheckResult(ok=False, message=f"login: {exc}")
        probe = ctx.settings.get("check_portfolio")
        if probe:
            try:
                client.portfolio(str(probe))
            except DeliveryError as exc:
                return CheckResult(ok=False, message=f"portfolio {probe!r}: {exc}")
        return CheckResult(ok=True, message=f"logged in to Karuta as {client.config.login}")

    @hookimpl
    def badge_emitted(self, ctx: AdapterContext, award: AwardEvent, receipt: EmissionReceipt) -> None:
        code = portfolio_code(ctx.settings, award.learner)
        push(self.client(ctx), code, badge_entry(ctx, award, receipt), _lang(ctx))

    @hookimpl
    def competency_validated(self, ctx: AdapterContext, validation: ValidationEvent) -> None:
        if validation.status != "validated":
            return
        code = portfolio_code(ctx.settings, validation.learner)
        push(self.client(ctx), code, competency_entry(ctx, validation), _lang(ctx))

    # Revocations update the unit in place rather than delete it: a deletion cannot be told from
    # a student's own edit, and a competency validated again later finds its unit and is restored.
    @hookimpl
    def badge_revoked(self, ctx: AdapterContext, award: AwardEvent, receipt: EmissionReceipt | None) -> None:
        code = portfolio_code(ctx.settings, award.learner)
        entry = badge_entry(ctx, award, receipt or EmissionReceipt(emitter=""))
        push(self.client(ctx), code, revoked(entry, award.revocation_reason), _lang(ctx), create=False)

    @hookimpl
    def validation_revoked(self, ctx: AdapterContext, validation: ValidationEvent) -> None:
        code = portfolio_code(ctx.settings, validation.learner)
        entry = revoked(competency_entry(ctx, validation), validation.reason)
        push(self.client(ctx), code, entry, _lang(ctx), create=False)


plugin = KarutaPlugin()  # what the entry point registers
