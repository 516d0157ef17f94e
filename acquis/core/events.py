"""What hooks receive and return: frozen snapshots, never ORM objects.

Snapshots keep plugins from changing core state behind the core's back, and they cross a
process boundary (a Celery worker) as plain data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

SettingKind = Literal["string", "url", "secret", "boolean", "integer", "choice", "pem"]


@dataclass(frozen=True)
class SettingField:
    """One setting an adapter needs; ``secret`` fields are encrypted at rest and never shown back."""

    name: str
    label: str
    kind: SettingKind = "string"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def secret(self) -> bool:
        return self.kind in ("secret", "pem")


@dataclass(frozen=True)
class CheckResult:
    """The answer of a connection check, written for the IT admin who has to act on it."""

    ok: bool
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EstablishmentRef:
    id: int
    slug: str
    name: str
    locale: str


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter gets along with every call: who it works for, and its own settings."""

    establishment: EstablishmentRef
    settings: Mapping[str, Any]  # this adapter's settings, secrets decrypted
    public_url: str
    delivery_id: str | None = None  # stable across retries of one outbox message: an idempotency key
    # A database session for hooks called during a request (export_achievements), to read what
    # the student chose; None for hooks delivered from the outbox, which get snapshots instead.
    session: Any = None


@dataclass(frozen=True)
class AdapterSpec:
    """What a plugin declares about itself through ``adapter_spec``."""

    name: str
    title: str
    description: str = ""
    settings: tuple[SettingField, ...] = ()
    check: Callable[[AdapterContext], CheckResult] | None = None
    emits_badges: bool = False
    # Among several enabled emitters, the lowest priority is asked first; the native issuer
    # goes last so that an establishment that enables OBF gets its badges from OBF.
    priority: int = 100

    def field(self, name: str) -> SettingField | None:
        return next((f for f in self.settings if f.name == name), None)


@dataclass(frozen=True)
class LearnerRef:
    id: int
    display_name: str
    email: str | None
    identifiers: Mapping[str, str]  # system → value


@dataclass(frozen=True)
class CompletionEvent:
    id: int
    learner: LearnerRef
    activity_source_id: str
    activity_name: str
    state: str  # completed, passed, failed, incomplete
    grade: float | None
    occurred_at: datetime


@dataclass(frozen=True)
class ValidationEvent:
    id: int
    learner: LearnerRef
    framework_code: str
    competency_code: str
    competency_title: str
    level_rank: int
    level_label: str
    status: str
    method: str
    evidence: tuple[str, ...]  # references: "completion:12", "attestation:3"
    reason: str | None = None


@dataclass(frozen=True)
class BadgeClassRef:
    id: int
    public_id: str
    name: str
    description: str
    criteria: str
    competency_code: str
    level_rank: int
    obf_badge_id: str | None


@dataclass(frozen=True)
class AwardEvent:
    id: int
    public_id: str
    learner: LearnerRef
    badge_class: BadgeClassRef
    validation_id: int
    created_at: datetime
    expires_at: datetime | None
    revocation_reason: str | None = None


@dataclass(frozen=True)
class EmissionReceipt:
    """What an emitter hands back once a badge is issued; stored with the award."""

    emitter: str
    external_id: str | None = None
    url: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportResult:
    filename: str
    media_type: str
    content: bytes
