"""The stable public URLs of the native issuer (they end up inside badges: never change them)."""

from __future__ import annotations

PREFIX = "/ob/v2"


def issuer(public_url: str, slug: str) -> str:
    return f"{public_url}{PREFIX}/issuers/{slug}"


def revocations(public_url: str, slug: str) -> str:
    return f"{issuer(public_url, slug)}/revocations"


def badge_class(public_url: str, public_id: str) -> str:
    return f"{public_url}{PREFIX}/badges/{public_id}"


def badge_image(public_url: str, public_id: str) -> str:
    return f"{badge_class(public_url, public_id)}/image.svg"


def criteria(public_url: str, public_id: str) -> str:
    return f"{badge_class(public_url, public_id)}/criteria"


def assertion(public_url: str, public_id: str) -> str:
    return f"{public_url}{PREFIX}/assertions/{public_id}"


def competency(public_url: str, competency_id: int) -> str:
    return f"{public_url}{PREFIX}/competencies/{competency_id}"
