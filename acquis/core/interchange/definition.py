"""Our own definition form, written back out of the database.

The export is exactly what ``import_definition`` reads, so it doubles as the normal form that the
other formats are compared in: two frameworks are the same when their definitions are equal.
Optional keys are left out when empty so that a YAML export reads like a hand-written file.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import frameworks
from acquis.core.errors import InvalidInput
from acquis.core.interchange.source import Source
from acquis.core.models import Block, Competency, Framework


def export_scale(scale: list[dict[str, Any]], pass_rank: int | None) -> list[Any] | dict[str, Any]:
    """The shortest form ``parse_scale`` reads back to the same levels, codes, ranks and pass rank."""
    derived = all(level["code"] == frameworks.slugify(level["label"]) for level in scale)
    levels: list[Any] = (
        [level["label"] for level in scale]
        if derived
        else [{"code": level["code"], "label": level["label"]} for level in scale]
    )
    start = scale[0]["rank"] if scale else 1
    if pass_rank is None and start == 1:
        return levels
    out: dict[str, Any] = {"levels": levels, "start": start}
    if pass_rank is not None:
        out["pass"] = pass_rank
    return out


def _competency(comp: Competency, children: dict[int, list[Competency]]) -> dict[str, Any]:
    out: dict[str, Any] = {"code": comp.code, "title": comp.title}
    if comp.description:
        out["description"] = comp.description
    if comp.uri:
        out["uri"] = comp.uri
    facets = [_competency(child, children) for child in children.get(comp.id, [])]
    if facets:
        out["facets"] = facets
    return out


def export_definition(session: Session, framework: Framework) -> dict[str, Any]:
    comps = list(
        session.scalars(
            select(Competency)
            .where(Competency.framework_id == framework.id)
            .order_by(Competency.position, Competency.id)
        )
    )
    children: dict[int, list[Competency]] = defaultdict(list)
    in_block: dict[int | None, list[Competency]] = defaultdict(list)
    for comp in comps:
        if comp.parent_id is not None:
            children[comp.parent_id].append(comp)
        else:
            in_block[comp.block_id].append(comp)
    out: dict[str, Any] = {"code": framework.code, "title": framework.title}
    if framework.description:
        out["description"] = framework.description
    if framework.uri:
        out["uri"] = framework.uri
    out["scale"] = export_scale(framework.scale, framework.pass_rank)
    blocks = session.scalars(
        select(Block).where(Block.framework_id == framework.id).order_by(Block.position, Block.id)
    )
    out_blocks = []
    for block in blocks:
        entry: dict[str, Any] = {"code": block.code, "title": block.title}
        if block.uri:
            entry["uri"] = block.uri
        entry["competencies"] = [_competency(c, children) for c in in_block.get(block.id, [])]
        out_blocks.append(entry)
    if out_blocks:
        out["blocks"] = out_blocks
    loose = [_competency(c, children) for c in in_block.get(None, [])]
    if loose:
        out["competencies"] = loose
    return out


def dump_yaml(definition: dict[str, Any]) -> str:
    return yaml.safe_dump(definition, allow_unicode=True, sort_keys=False, width=100)


def read_yaml(text: str) -> Source:
    data = frameworks.load_yaml(text)
    if not isinstance(data, dict):
        raise InvalidInput("a framework must be a mapping with code, title and competencies")
    return Source(data)
