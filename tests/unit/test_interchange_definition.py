"""Our definition form written back out: the normal form the other formats are compared in."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core import establishments, frameworks
from acquis.core.db import Database
from acquis.core.errors import InvalidInput
from acquis.core.interchange import import_source
from acquis.core.interchange.definition import dump_yaml, export_definition, read_yaml
from acquis.core.interchange.samples import samples
from acquis.core.models import Block, Competency, Establishment, Framework

# Everything the definition form can hold, written the way export_definition writes it.
FULL: dict[str, Any] = {
    "code": "full",
    "title": "Référentiel complet",
    "description": "Blocs, compétences hors bloc, composantes imbriquées, URI.",
    "uri": "https://case.example.org/CFDocuments/5d1b0a56-0b44-4f0e-9a53-2d0c3f1e7a10",
    "scale": {
        "levels": [
            {"code": "na", "label": "non acquis"},
            {"code": "ec", "label": "en cours"},
            {"code": "a", "label": "acquis"},
        ],
        "start": 0,
        "pass": 2,
    },
    "blocks": [
        {
            "code": "B1",
            "title": "Bloc 1",
            "uri": "https://case.example.org/CFItems/6a7e2c1d-5b9f-4c3a-8e2d-1f0a9b8c7d6e",
            "competencies": [
                {
                    "code": "C1",
                    "title": "Concevoir",
                    "description": "Concevoir une solution.\nSur deux lignes.",
                    "uri": "https://case.example.org/CFItems/7b8f3d2e-6c0a-4d4b-9f3e-2a1b0c9d8e7f",
                    "facets": [
                        {"code": "C1.a", "title": "Analyser"},
                        {
                            "code": "C1.b",
                            "title": "Modéliser",
                            "facets": [{"code": "C1.b.i", "title": "Choisir un modèle"}],
                        },
                    ],
                },
                {"code": "C2", "title": "Réaliser"},
            ],
        },
        {"code": "B2", "title": "Bloc vide", "competencies": []},
    ],
    "competencies": [{"code": "C3", "title": "Communiquer", "description": "Hors bloc."}],
}


def est(session: Session, slug: str = "univ-a") -> Establishment:
    found = session.scalar(select(Establishment).where(Establishment.slug == slug))
    return found or establishments.create(session, slug, f"Université {slug}")[0]


def count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_export_gives_back_what_was_imported(db: Database) -> None:
    with db.session() as s:
        fw = frameworks.import_definition(s, est(s), copy.deepcopy(FULL))
        assert export_definition(s, fw) == FULL


@pytest.mark.parametrize(
    ("scale", "exported"),
    [
        (None, ["Novice", "Intermédiaire", "Compétent", "Avancé", "Expert"]),
        (["Débutant", "Confirmé"], ["Débutant", "Confirmé"]),
        ({"levels": ["Débutant", "Confirmé"], "start": 1}, ["Débutant", "Confirmé"]),
        (
            [{"code": "d", "label": "Débutant"}, "Confirmé"],
            [
                {"code": "d", "label": "Débutant"},
                {"code": "confirme", "label": "Confirmé"},
            ],
        ),
        ({"levels": ["0", "1", "2"], "pass": 2}, {"levels": ["0", "1", "2"], "start": 1, "pass": 2}),
        ({"levels": ["a", "b"], "start": 0}, {"levels": ["a", "b"], "start": 0}),
    ],
)
def test_scale_is_written_in_its_shortest_faithful_form(db: Database, scale: Any, exported: Any) -> None:
    data = {"code": "s", "title": "S", "scale": scale, "competencies": [{"code": "C1", "title": "C"}]}
    with db.session() as s:
        fw = frameworks.import_definition(s, est(s), data)
        out = export_definition(s, fw)
        assert out["scale"] == exported
        again = frameworks.import_definition(s, est(s, "univ-b"), out)
        assert (again.scale, again.pass_rank) == (fw.scale, fw.pass_rank)


@pytest.mark.parametrize("sample", samples(), ids=lambda sample: sample.name)
def test_yaml_round_trip_of_each_sample(db: Database, sample: Any) -> None:
    original = yaml.safe_load(sample.path.read_text(encoding="utf-8"))
    with db.session() as s:
        first = import_source(s, est(s), read_yaml(sample.path.read_text(encoding="utf-8")))
        text = dump_yaml(export_definition(s, first))
        second = import_source(s, est(s, "univ-b"), read_yaml(text))
        assert export_definition(s, second) == export_definition(s, first) == original


def test_yaml_keeps_accents_readable_and_key_order() -> None:
    text = dump_yaml(FULL)
    assert "Référentiel complet" in text and "\\xE9" not in text
    assert list(yaml.safe_load(text)) == [
        "code",
        "title",
        "description",
        "uri",
        "scale",
        "blocks",
        "competencies",
    ]


def test_two_blocks_with_one_code_are_refused_and_nothing_is_kept(db: Database) -> None:
    data = copy.deepcopy(FULL)
    data["blocks"][1]["code"] = "B1"
    with pytest.raises(InvalidInput) as exc, db.session() as s:
        import_source(s, est(s), read_yaml(yaml.safe_dump(data)))
    assert exc.value.field == "blocks[1].code"
    assert count(db, Framework) == count(db, Block) == count(db, Competency) == 0


def test_yaml_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidInput, match="mapping"):
        read_yaml("- just\n- a list\n")
    with pytest.raises(InvalidInput, match="not valid YAML at line"):
        read_yaml("code: [unclosed\n")
