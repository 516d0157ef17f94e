"""1EdTech CASE packages: shape of what we write, what we read from others, round trips, bad input."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core import establishments, frameworks
from acquis.core.db import Database
from acquis.core.errors import InvalidInput
from acquis.core.interchange import import_source
from acquis.core.interchange.case import dump_case, export_case, parse_case, read_case
from acquis.core.interchange.definition import export_definition, read_yaml
from acquis.core.interchange.samples import samples
from acquis.core.models import Competency, Establishment, Framework

# The identifier pattern of the CASE 1.1 JSON schema (lower-case hex, RFC 4122 variant).
CASE_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
BASE = "https://case.example.org/ims/case/v1p0"
DOC = "c0ffee00-0000-4000-8000-000000000000"


def est(session: Session, slug: str = "univ-a") -> Establishment:
    found = session.scalar(select(Establishment).where(Establishment.slug == slug))
    return found or establishments.create(session, slug, f"Université {slug}")[0]


def sample_text(name: str) -> str:
    return next(s for s in samples() if s.name == name).path.read_text(encoding="utf-8")


def without_uris(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_uris(v) for k, v in value.items() if k != "uri"}
    if isinstance(value, list):
        return [without_uris(v) for v in value]
    return value


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def item(n: int, code: str | None, statement: str, **extra: Any) -> dict[str, Any]:
    out = {"identifier": uid(n), "uri": f"{BASE}/CFItems/{uid(n)}", "fullStatement": statement}
    if code is not None:
        out["humanCodingScheme"] = code
    out["lastChangeDateTime"] = "2024-01-01T00:00:00+00:00"
    return out | extra


def child_of(n: int, child: str, parent: str, sequence: int | None = None, kind: str = "isChildOf") -> Any:
    def link(identifier: str) -> dict[str, str]:
        family = "CFDocuments" if identifier == DOC else "CFItems"
        return {"title": "", "identifier": identifier, "uri": f"{BASE}/{family}/{identifier}"}

    out: dict[str, Any] = {
        "identifier": uid(900 + n),
        "uri": f"{BASE}/CFAssociations/{uid(900 + n)}",
        "associationType": kind,
        "originNodeURI": link(child),
        "destinationNodeURI": link(parent),
        "lastChangeDateTime": "2024-01-01T00:00:00+00:00",
    }
    if sequence is not None:
        out["sequenceNumber"] = sequence
    return out


def foreign() -> dict[str, Any]:
    """A package as a CASE server publishes it: no acquis extension, no rubric, URIs ending in the ids."""
    return {
        "CFPackage": {
            "CFDocument": {
                "identifier": DOC,
                "uri": f"{BASE}/CFDocuments/{DOC}",
                "creator": "France compétences",
                "title": "Développeur d'applications",
                "description": "Un référentiel publié ailleurs.",
                "lastChangeDateTime": "2024-01-01T00:00:00+00:00",
            },
            "CFItems": [
                item(1, "BC01", "Développer une application", CFItemTypeURI={"title": "Bloc de compétences"}),
                item(2, "C1", "Maquetter une interface", CFItemType="Competency", notes="Avec des outils."),
                item(3, "C2", "Coder la logique métier", abbreviatedStatement="Coder"),
                item(4, "C2.a", "Écrire des tests"),
                item(5, None, "Communiquer à l'écrit"),
            ],
            "CFAssociations": [
                child_of(1, uid(5), DOC, 2),
                child_of(2, uid(1), DOC, 1),
                child_of(3, uid(3), uid(1), 2),
                child_of(4, uid(2), uid(1), 1),
                child_of(5, uid(4), uid(3)),
                child_of(6, uid(4), uid(2), kind="isRelatedTo"),
                child_of(7, uid(2), uid(1), 1),  # the same link twice, as some exports have
            ],
        }
    }


def test_export_is_well_formed_case(db: Database) -> None:
    with db.session() as s:
        fw = import_source(s, est(s), read_yaml(sample_text("rncp-expert-si")))
        package = export_case(s, fw)
    doc = package["CFDocument"]
    assert {"identifier", "uri", "creator", "title", "lastChangeDateTime"} <= set(doc)
    items, assocs = package["CFItems"], package["CFAssociations"]
    for it in items:
        assert {"identifier", "fullStatement", "uri", "lastChangeDateTime"} <= set(it)
    for assoc in assocs:
        assert {"identifier", "associationType", "uri", "originNodeURI", "destinationNodeURI"} <= set(assoc)
    rubric = package["CFRubrics"][0]
    levels = [lv for c in rubric["CFRubricCriteria"] for lv in c["CFRubricCriterionLevels"]]
    objects = [doc, *items, *assocs, rubric, *rubric["CFRubricCriteria"], *levels]
    identifiers = [o["identifier"] for o in objects]
    assert all(CASE_UUID.match(i) for i in identifiers)
    assert len(set(identifiers)) == len(identifiers)
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", o["lastChangeDateTime"]) for o in objects)


def test_export_tree_order_and_scale(db: Database) -> None:
    with db.session() as s:
        fw = import_source(s, est(s), read_yaml(sample_text("rncp-expert-si")))
        package = export_case(s, fw)
        assert export_case(s, fw) == package  # same identifiers every time
    doc = package["CFDocument"]
    assert doc["extensions"] == {"acquis": {"code": "rncp-expert-si", "passScore": 2}}
    by_id = {it["identifier"]: it for it in package["CFItems"]}
    blocks = [it for it in package["CFItems"] if it["CFItemType"] == "Bloc de compétences"]
    assert [b["humanCodingScheme"] for b in blocks] == ["BC01", "BC02", "BC03", "BC04"]
    parent_of = {
        a["originNodeURI"]["identifier"]: (a["destinationNodeURI"]["identifier"], a["sequenceNumber"])
        for a in package["CFAssociations"]
        if a["associationType"] == "isChildOf"
    }
    assert {parent_of[b["identifier"]] for b in blocks} == {(doc["identifier"], n) for n in (1, 2, 3, 4)}
    c6 = next(it for it in package["CFItems"] if it["humanCodingScheme"] == "C.6")
    parent, sequence = parent_of[c6["identifier"]]
    assert (by_id[parent]["humanCodingScheme"], sequence) == ("BC02", 2)
    criteria = package["CFRubrics"][0]["CFRubricCriteria"]
    assert len(criteria) == 16
    assert criteria[5]["CFItemURI"]["identifier"] == c6["identifier"]
    assert [(lv["quality"], lv["score"]) for lv in criteria[5]["CFRubricCriterionLevels"]] == [
        ("non acquis", 0),
        ("en cours d'acquisition", 1),
        ("acquis", 2),
        ("maîtrise", 3),
    ]


@pytest.mark.parametrize("name", ["centrale", "rncp-expert-si", "demo"])
def test_round_trip_of_each_sample(db: Database, name: str) -> None:
    with db.session() as s:
        original = import_source(s, est(s), read_yaml(sample_text(name)))
        package = export_case(s, original)
        first = import_source(s, est(s, "univ-b"), read_case(dump_case(package)))
        second = import_source(s, est(s, "univ-c"), parse_case(export_case(s, first)))
        assert export_definition(s, second) == export_definition(s, first)
        assert without_uris(export_definition(s, first)) == export_definition(s, original)
        assert [it["identifier"] for it in export_case(s, first)["CFItems"]] == [
            it["identifier"] for it in package["CFItems"]
        ]


def test_custom_level_codes_and_outside_block_competencies_survive(db: Database) -> None:
    data = {
        "code": "mix",
        "title": "Mixte",
        "scale": [{"code": "n1", "label": "Niveau un"}, {"code": "n2", "label": "Niveau deux"}],
        "blocks": [{"code": "B", "title": "Bloc", "competencies": [{"code": "C1", "title": "Un"}]}],
        "competencies": [{"code": "C2", "title": "Deux", "facets": [{"code": "C2.a", "title": "a"}]}],
    }
    with db.session() as s:
        fw = frameworks.import_definition(s, est(s), copy.deepcopy(data))
        back = import_source(s, est(s, "univ-b"), parse_case(export_case(s, fw)))
        assert without_uris(export_definition(s, back)) == data


def test_foreign_package_is_read_by_its_tree_and_sequence_numbers(db: Database) -> None:
    source = parse_case(foreign())
    assert source.definition == {
        "code": "developpeur-d-applications",
        "title": "Développeur d'applications",
        "description": "Un référentiel publié ailleurs.",
        "uri": f"{BASE}/CFDocuments/{DOC}",
        "blocks": [
            {
                "code": "BC01",
                "title": "Développer une application",
                "uri": f"{BASE}/CFItems/{uid(1)}",
                "competencies": [
                    {
                        "code": "C1",
                        "title": "Maquetter une interface",
                        "description": "Avec des outils.",
                        "uri": f"{BASE}/CFItems/{uid(2)}",
                    },
                    {
                        "code": "C2",
                        "title": "Coder la logique métier",
                        "description": "Coder",
                        "uri": f"{BASE}/CFItems/{uid(3)}",
                        "facets": [
                            {"code": "C2.a", "title": "Écrire des tests", "uri": f"{BASE}/CFItems/{uid(4)}"}
                        ],
                    },
                ],
            }
        ],
        "competencies": [
            {"code": "item-00000000", "title": "Communiquer à l'écrit", "uri": f"{BASE}/CFItems/{uid(5)}"}
        ],
    }
    with db.session() as s:
        fw = import_source(s, est(s), source)
        assert fw.scale == frameworks.parse_scale(None)[0] and fw.pass_rank is None
        again = export_case(s, fw)
    assert again["CFDocument"]["identifier"] == DOC  # read back from the stored URI
    assert {it["identifier"] for it in again["CFItems"]} == {uid(n) for n in range(1, 6)}


def test_rubric_scores_give_the_start_and_foreign_scores_fall_back_to_ranks() -> None:
    def with_rubric(scores: list[float]) -> dict[str, Any]:
        package: dict[str, Any] = foreign()["CFPackage"]
        package["CFRubrics"] = [
            {
                "identifier": uid(700),
                "uri": f"{BASE}/CFRubrics/{uid(700)}",
                "lastChangeDateTime": "2024-01-01T00:00:00+00:00",
                "CFRubricCriteria": [
                    {
                        "identifier": uid(701 + c),
                        "uri": "x",
                        "CFRubricCriterionLevels": [
                            # positions listed backwards: position, not list order, decides
                            {"identifier": uid(710 + k), "quality": q, "score": sc, "position": k + 1}
                            for k, (q, sc) in reversed(
                                list(enumerate(zip(["bas", "haut"], scores, strict=True)))
                            )
                        ],
                    }
                    for c in range(2)
                ],
            }
        ]
        return package

    assert parse_case(with_rubric([0, 1])).definition["scale"] == {"levels": ["bas", "haut"], "start": 0}
    assert parse_case(with_rubric([10, 50])).definition["scale"] == {"levels": ["bas", "haut"], "start": 1}


def _break(
    path: str, mutate: Callable[[dict[str, Any]], None]
) -> tuple[str, Callable[[dict[str, Any]], None]]:
    return path, mutate


def _different_scales(p: dict[str, Any]) -> None:
    level = {"identifier": uid(720), "uri": "x", "quality": "bas", "score": 1}
    criterion: dict[str, Any] = {"identifier": uid(701), "uri": "x", "CFRubricCriterionLevels": [level]}
    other = copy.deepcopy(criterion) | {"identifier": uid(702)}
    other["CFRubricCriterionLevels"][0]["quality"] = "haut"
    p["CFRubrics"] = [{"identifier": uid(700), "uri": "x", "CFRubricCriteria": [criterion, other]}]


BROKEN = [
    _break("CFPackage.CFDocument", lambda p: p.pop("CFDocument")),
    _break("CFPackage.CFDocument.identifier", lambda p: p["CFDocument"].pop("identifier")),
    _break(
        "CFPackage.CFAssociations[3].destinationNodeURI",
        lambda p: p["CFAssociations"][3]["destinationNodeURI"].update(identifier=uid(99), uri="elsewhere"),
    ),
    _break(
        "CFPackage.CFAssociations[0].originNodeURI",
        lambda p: p["CFAssociations"][0]["originNodeURI"].update(identifier=uid(99), uri="elsewhere"),
    ),
    # C2.a made the parent of C2, whose parent it already is: a cycle, reachable from nowhere
    _break("CFPackage.CFItems[2]", lambda p: p["CFAssociations"][2].update(child_of(8, uid(3), uid(4)))),
    _break("CFPackage.CFItems[4]", lambda p: p["CFAssociations"].pop(0)),
    # C2.a given a second parent, by the association appended last
    _break("CFPackage.CFAssociations[7]", lambda p: p["CFAssociations"].append(child_of(9, uid(4), DOC))),
    _break("CFPackage.CFItems[3].identifier", lambda p: p["CFItems"][3].update(identifier=uid(1))),
    _break(
        "CFPackage.CFItems[3].humanCodingScheme", lambda p: p["CFItems"][3].update(humanCodingScheme="C1")
    ),
    _break(
        "CFPackage.CFItems[1].humanCodingScheme", lambda p: p["CFItems"][1].update(humanCodingScheme="C 1")
    ),
    _break("CFPackage.CFItems[2].fullStatement", lambda p: p["CFItems"][2].update(fullStatement="")),
    _break("CFPackage.CFItems[2].uri", lambda p: p["CFItems"][2].update(uri="https://x/" + "y" * 600)),
    _break("CFPackage.CFRubrics[0].CFRubricCriteria[1]", _different_scales),
    _break(
        "CFPackage.CFDocument.extensions.acquis.passScore",
        lambda p: p["CFDocument"].update(extensions={"acquis": {"passScore": 9}}),
    ),
]


@pytest.mark.parametrize(("path", "mutate"), BROKEN, ids=[b[0] for b in BROKEN])
def test_bad_package_names_the_place_and_writes_nothing(
    db: Database, path: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    package = foreign()
    mutate(package["CFPackage"])
    with pytest.raises(InvalidInput) as exc, db.session() as s:
        import_source(s, est(s), parse_case(package))
    assert exc.value.field == path, str(exc.value)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Framework)) == 0
        assert s.scalar(select(func.count()).select_from(Competency)) == 0


def test_unreadable_json_is_refused_with_its_position() -> None:
    with pytest.raises(InvalidInput, match=r"line 2, column"):
        read_case('{"CFDocument":\n  {,}}')
    with pytest.raises(InvalidInput, match="JSON object"):
        read_case("[1, 2]")
