"""What the Pégase adapter writes: learner identifiers from inscriptions, ratings from results.

Learners
--------
Learners are created by the LMS side (xAPI, LTI); Pégase only tells us who they are in the SIS.
An inscription is matched to an existing learner by, in order: an identifier we already hold
(``pegase:code_apprenant``, then ``pegase:ine``), then the learner's email among the
inscription's mail contacts. A match gets the missing identifiers (code apprenant, INE, the
IDT uuid). Nothing is created for an unmatched inscription (a learner with no LMS activity has
nothing to certify) and nothing is moved: an identifier already held by another learner is
reported as a conflict for a human to resolve, because re-pointing an INE would silently hand
one student's results to another.

Results → ratings
-----------------
Each chemin of the COC publication whose leaf object maps to a top-level competency of a block
(same code, or an explicit ``--map``) gives that competency a rating on the framework's scale:

* nothing is rated unless the final evaluation is published (``publieEvaluationsFinales``) and
  carries a final result or a capitalised acquisition: an unpublished or undeliberated result is
  not evidence, and the competency stays unrated (its block cannot pass yet);
* a passing result (``resultatFinal.code`` in the establishment's list, ``ADM`` by default) or a
  capitalised acquisition rates the pass mark, or the top of the scale when the final mark is at
  least 16/20 (the "très bien" threshold, read on the object's own ``bareme``);
* any other result rates below the pass mark: one under it when the final mark is at least 8/20
  (the usual compensation floor: "partly acquired"), the bottom of the scale otherwise
  (including a result with no mark, e.g. defaillant).

Ratings are recorded with source ``pegase`` and the chemin, result and mark as comment; a rating
that did not change is not recorded again, so re-importing changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core import certification, frameworks
from acquis.core.models import CompetencyRating, Establishment, Learner, LearnerIdentifier
from acquis.plugins.pegase.client import PegaseClient, PegaseNotFound

SYSTEM_CODE = "pegase:code_apprenant"
SYSTEM_INE = "pegase:ine"
SYSTEM_IDT = "pegase:idt"  # the IDT uuid (idApprenant)
SOURCE = "pegase"
DEFAULT_PASSING = ("ADM",)
HIGH_MARK = 0.8  # 16/20
FLOOR_MARK = 0.4  # 8/20


# ---- learners ------------------------------------------------------------------------------------


@dataclass
class LearnerSyncReport:
    matched: list[tuple[str, int]] = field(default_factory=list)  # (code apprenant, learner id)
    added: int = 0  # identifiers written
    unmatched: list[str] = field(default_factory=list)  # codes apprenant with no LMS learner
    conflicts: list[str] = field(default_factory=list)  # human-readable


def _emails(inscription: Mapping[str, Any]) -> list[str]:
    mails = inscription.get("mels") or []
    return [str(m["mail"]).strip().lower() for m in mails if isinstance(m, dict) and m.get("mail")]


def _identifiers_of(inscription: Mapping[str, Any]) -> dict[str, str]:
    ids = {SYSTEM_CODE: str(inscription.get("codeApprenant") or "").strip()}
    if inscription.get("INE"):
        ids[SYSTEM_INE] = str(inscription["INE"]).strip().upper()
    if inscription.get("idApprenant"):
        ids[SYSTEM_IDT] = str(inscription["idApprenant"]).strip()
    return {k: v for k, v in ids.items() if v}


def sync_learners(
    session: Session, est: Establishment, inscriptions: Iterable[Mapping[str, Any]]
) -> LearnerSyncReport:
    """Attach Pégase identifiers to the establishment's learners (see the module docstring)."""
    report = LearnerSyncReport()
    held: dict[tuple[str, str], int] = {
        (system, value): learner_id
        for system, value, learner_id in session.execute(
            select(LearnerIdentifier.system, LearnerIdentifier.value, LearnerIdentifier.learner_id).where(
                LearnerIdentifier.establishment_id == est.id,
                LearnerIdentifier.system.in_((SYSTEM_CODE, SYSTEM_INE, SYSTEM_IDT)),
            )
        )
    }
    by_email: dict[str, list[int]] = {}
    for learner_id, email in session.execute(
        select(Learner.id, func.lower(Learner.email)).where(
            Learner.establishment_id == est.id, Learner.email.is_not(None)
        )
    ):
        by_email.setdefault(str(email).strip(), []).append(learner_id)
    seen: set[str] = set()
    for ins in inscriptions:
        if ins.get("statutInscription") == "annulee":
            continue  # a cancelled inscription says nothing about who the student is now
        ids = _identifiers_of(ins)
        code = ids.get(SYSTEM_CODE)
        if not code or code in seen:
            continue  # one learner has one inscription per formation: the first says who they are
        seen.add(code)
        learner_id = held.get((SYSTEM_CODE, code))
        if learner_id is None and SYSTEM_INE in ids:
            learner_id = held.get((SYSTEM_INE, ids[SYSTEM_INE]))
        if learner_id is None:
            candidates = {lid for mail in _emails(ins) for lid in by_email.get(mail, [])}
            if len(candidates) > 1:
                report.conflicts.append(
                    f"{code}: its email matches {len(candidates)} learners ({sorted(candidates)})"
                )
                continue
            learner_id = next(iter(candidates), None)
        if learner_id is None:
            report.unmatched.append(code)
            continue
        report.matched.append((code, learner_id))
        for system, value in ids.items():
            owner = held.get((system, value))
            if owner == learner_id:
                continue
            if owner is not None:
                report.conflicts.append(
                    f"{code}: {system}={value} already belongs to learner {owner}, not {learner_id}"
                )
                continue
            session.add(
                LearnerIdentifier(establishment_id=est.id, learner_id=learner_id, system=system, value=value)
            )
            held[(system, value)] = learner_id
            report.added += 1
    session.flush()
    return report


def pegase_learners(session: Session, est: Establishment) -> dict[str, int]:
    """code apprenant → learner id, for the learners already mapped."""
    return {
        value: learner_id
        for value, learner_id in session.execute(
            select(LearnerIdentifier.value, LearnerIdentifier.learner_id).where(
                LearnerIdentifier.establishment_id == est.id, LearnerIdentifier.system == SYSTEM_CODE
            )
        )
    }


# ---- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rated:
    rating: int
    comment: str


def rate(
    chemin: Mapping[str, Any], spec: certification.CertificationSpec, passing: Iterable[str] = DEFAULT_PASSING
) -> Rated | None:
    """The rating one COC chemin gives its competency, or None when it is not evidence yet."""
    if not chemin.get("publieEvaluationsFinales"):
        return None
    result = chemin.get("resultatFinal")
    capitalised = bool(chemin.get("acquisCapitalise"))
    if not isinstance(result, dict) and not capitalised:
        return None
    code = str(result.get("code")) if isinstance(result, dict) else "capitalisé"
    mark, scale = chemin.get("noteFinale"), chemin.get("bareme")
    ratio: float | None = None
    if isinstance(mark, int | float) and isinstance(scale, int | float) and scale > 0:
        ratio = float(mark) / float(scale)
    shown = f"{mark}/{scale}" if ratio is not None else "no mark"
    comment = f"{chemin.get('codeChemin')}: {code}, {shown}"
    if capitalised or code in set(passing):
        high = ratio is not None and ratio >= HIGH_MARK
        return Rated(spec.max_rank if high else spec.pass_rank, comment)
    below = max(spec.min_rank, spec.pass_rank - 1)
    return Rated(below if ratio is not None and ratio >= FLOOR_MARK else spec.min_rank, comment)


@dataclass
class ResultsReport:
    rated: list[tuple[int, str, int]] = field(default_factory=list)  # (learner, competency, rating)
    unchanged: int = 0
    pending: list[tuple[int, str]] = field(default_factory=list)  # published without final result
    outcomes: dict[int, str] = field(default_factory=dict)  # learner → certification outcome
    missing: list[str] = field(default_factory=list)  # codes apprenant COC knows nothing of here


def import_results(
    session: Session,
    est: Establishment,
    client: PegaseClient,
    framework_code: str,
    periode: str,
    chemin: str,
    mapping: Mapping[str, str] | None = None,
    passing: Iterable[str] = DEFAULT_PASSING,
    learners: Mapping[str, int] | None = None,
) -> ResultsReport:
    """Rate the framework's competencies from the COC results of every mapped learner.

    ``mapping`` maps a Pégase object code (the chemin's leaf) to a competency code; objects not
    in it map to the competency of the same code, and objects matching no competency are skipped.
    """
    framework = frameworks.get(session, est, framework_code)
    spec = certification.spec_of(framework)
    rated_codes = spec.competencies
    explicit = dict(mapping or {})
    passing = tuple(passing)
    report = ResultsReport()
    comp_ids = {c.code: c.id for c in framework.competencies}
    for code_apprenant, learner_id in sorted((learners or pegase_learners(session, est)).items()):
        current = {
            cid: (rating, source)
            for cid, rating, source in session.execute(
                select(
                    CompetencyRating.competency_id, CompetencyRating.rating, CompetencyRating.source
                ).where(
                    CompetencyRating.learner_id == learner_id, CompetencyRating.framework_id == framework.id
                )
            )
        }
        try:
            rows = client.results(periode, code_apprenant, chemin)
        except PegaseNotFound:
            # Not enrolled in this period or chemin: nothing to rate, and no reason to stop the others.
            report.missing.append(code_apprenant)
            continue
        for row in rows:
            leaf = row.get("objetFeuille") or {}
            obj = str(leaf.get("code") or "") if isinstance(leaf, dict) else ""
            competency = explicit.get(obj, obj)
            if competency not in rated_codes:
                continue
            got = rate(row, spec, passing)
            if got is None:
                report.pending.append((learner_id, competency))
                continue
            if current.get(comp_ids[competency]) == (got.rating, SOURCE):
                report.unchanged += 1
                continue
            outcome = certification.record_ratings(
                session,
                est,
                framework_code,
                learner_id,
                {competency: got.rating},
                by="Pégase COC",
                source=SOURCE,
                comment=got.comment,
            )
            current[comp_ids[competency]] = (got.rating, SOURCE)
            report.rated.append((learner_id, competency, got.rating))
            report.outcomes[learner_id] = outcome.outcome
    return report


def maquette(cursus: Iterable[Mapping[str, Any]]) -> list[tuple[int, str, str, str]]:
    """The "maquette" trees of a learner's cursus, flattened depth-first as
    (depth, object code, long label, type label), for showing and for building a framework."""
    out: list[tuple[int, str, str, str]] = []

    def walk(node: Mapping[str, Any], depth: int) -> None:
        out.append(
            (
                depth,
                str(node.get("codeObjetMaquette", "")),
                str(node.get("libelleLongObjetMaquette", "")),
                str(node.get("libelleAffichageTypeObjetFormation", "")),
            )
        )
        for child in node.get("enfants") or []:
            if isinstance(child, dict):
                walk(child, depth + 1)

    for c in cursus:
        root = c.get("racinePedagogique")
        if isinstance(root, dict):
            walk(root, 0)
    return out
