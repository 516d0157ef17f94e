"""The sample frameworks shipped in the package: found where the CLI looks, and shaped as described."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from acquis.core import establishments
from acquis.core.db import Database
from acquis.core.interchange import import_source
from acquis.core.interchange.definition import read_yaml
from acquis.core.interchange.samples import samples
from acquis.core.models import Block, Competency, Framework, Level


def _import(db: Database, name: str) -> int:
    sample = next(s for s in samples() if s.name == name)
    with db.session() as s:
        est, _ = establishments.create(s, "univ-a", "Université A")
        return import_source(s, est, read_yaml(sample.path.read_text(encoding="utf-8"))).id


def test_samples_are_listed_with_readable_files() -> None:
    found = {s.name: s for s in samples()}
    assert {"centrale", "rncp-expert-si", "demo"} <= set(found)
    assert found["rncp-expert-si"].title == "Expert en ingénierie des systèmes d'information"
    assert all(s.path.is_file() and s.path.name.endswith(".yaml") for s in found.values())


def test_centrale_five_competencies_of_three_facets_on_five_levels(db: Database) -> None:
    fw_id = _import(db, "centrale")
    with db.session() as s:
        fw = s.get(Framework, fw_id)
        assert fw is not None and fw.pass_rank is None
        assert [lv["label"] for lv in fw.scale] == [
            "Novice",
            "Intermédiaire",
            "Compétent",
            "Avancé",
            "Expert",
        ]
        assert s.scalars(select(Block).where(Block.framework_id == fw_id)).all() == []
        comps = s.scalars(
            select(Competency).where(Competency.framework_id == fw_id).order_by(Competency.position)
        ).all()
        top = [c for c in comps if c.parent_id is None]
        assert [c.title for c in top] == [
            "Innovation",
            "Complexité",
            "Direction de programmes",
            "Management éthique et responsable",
            "Vision stratégique",
        ]
        facets = Counter(c.parent_id for c in comps if c.parent_id is not None)
        assert facets == {c.id: 3 for c in top}
        innovation = [c.title for c in comps if c.parent_id == top[0].id]
        assert innovation == ["Faire émerger", "Oser", "Concrétiser"]
        levels = Counter(lv.competency_id for lv in s.scalars(select(Level)))
        assert len(levels) == 20 and set(levels.values()) == {5}


def test_rncp_four_blocks_of_four_on_a_numeric_scale(db: Database) -> None:
    fw_id = _import(db, "rncp-expert-si")
    with db.session() as s:
        fw = s.get(Framework, fw_id)
        assert fw is not None and fw.pass_rank == 2
        assert [(lv["rank"], lv["label"]) for lv in fw.scale] == [
            (0, "non acquis"),
            (1, "en cours d'acquisition"),
            (2, "acquis"),
            (3, "maîtrise"),
        ]
        blocks = s.scalars(select(Block).where(Block.framework_id == fw_id).order_by(Block.position)).all()
        assert len(blocks) == 4
        comps = s.scalars(
            select(Competency).where(Competency.framework_id == fw_id).order_by(Competency.position)
        ).all()
        assert [c.code for c in comps] == [f"C.{n}" for n in range(1, 17)]
        assert all(c.parent_id is None for c in comps)
        assert [Counter(c.block_id for c in comps)[b.id] for b in blocks] == [4, 4, 4, 4]
        assert comps[4].block_id == blocks[1].id
        assert Counter(lv.rank for lv in s.scalars(select(Level))) == {0: 16, 1: 16, 2: 16, 3: 16}
