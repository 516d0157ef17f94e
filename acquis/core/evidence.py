"""Evidence references: what a validation rests on, as "kind:id" strings.

Completions, partner attestations and (later) results from other systems all back
validations; a tagged reference says which table an id belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable

KINDS = ("completion", "attestation")


def ref(kind: str, ident: int) -> str:
    assert kind in KINDS, kind
    return f"{kind}:{ident}"


def evidence_refs(evidence: Iterable[str]) -> dict[str, list[int]]:
    """Ids by kind; unknown kinds are skipped so older readers survive newer evidence."""
    out: dict[str, list[int]] = {}
    for item in evidence:
        kind, _, ident = str(item).partition(":")
        if kind in KINDS and ident.isdigit():
            out.setdefault(kind, []).append(int(ident))
    return out
