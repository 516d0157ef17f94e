"""The recipient identity of an assertion: hashed with a salt, as Open Badges 2.0 recommends."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from acquis.core.events import LearnerRef


@dataclass(frozen=True)
class Recipient:
    type: str  # "email" or "url"
    identity: str  # "sha256$<hex>"
    salt: str


def plain_identity(learner: LearnerRef, public_url: str) -> tuple[str, str]:
    """An email when the learner has one, otherwise the learner's profile URL in the LMS."""
    if learner.email:
        return "email", learner.email.strip().lower()
    for system, value in sorted(learner.identifiers.items()):
        if system.startswith("xapi:"):
            return "url", f"{system[len('xapi:') :]}/user/profile.php?id={value}"
    return "url", f"{public_url}/learners/{learner.id}"


def hashed(kind: str, plain: str, salt: str | None = None) -> Recipient:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha256((plain + salt).encode()).hexdigest()
    return Recipient(type=kind, identity=f"sha256${digest}", salt=salt)
