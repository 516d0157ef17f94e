"""Competency frameworks from and to a plain YAML/JSON form of our own.

    code: demo
    title: Démo
    scale: [Novice, Intermédiaire, Compétent, Avancé, Expert]   # or [{code, label}], or
    # scale: {levels: ["non acquis", "en cours d'acquisition", "acquis", "maîtrise"], start: 0, pass: 2}
    blocks:
      - code: B1
        title: Bloc 1
        competencies:
          - {code: C1, title: Innover, facets: [{code: C1.a, title: Oser}]}
    competencies: [...]   # competencies outside any block

Every field is checked before anything is written, and an error names its path.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import fields
from acquis.core.errors import Conflict, InvalidInput, NotFound
from acquis.core.models import (
    DEFAULT_SCALE,
    BadgeClass,
    Block,
    Competency,
    Establishment,
    Framework,
    Level,
)

# Column lengths the checks must respect, or PostgreSQL refuses the row after validation passed.
LEVEL_CODE_MAX = 64
FRAMEWORK_TITLE_MAX = 255
BADGE_NAME_MAX = 255
URI_MAX = 512


def slugify(label: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "level"


def _text(value: Any, where: str, max_len: int = 512, required: bool = True) -> str:
    return fields.text(value, where, max_len, required)


def _code(value: Any, where: str) -> str:
    return fields.code(value, where)


def _uri(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where, URI_MAX)


def parse_scale(raw: Any, where: str = "scale") -> tuple[list[dict[str, Any]], int | None]:
    """The scale as [{rank, code, label}] and the pass rank (None for progressive badges)."""
    if raw is None:
        return [dict(level) for level in DEFAULT_SCALE], None
    start, pass_rank, levels = 1, None, raw
    if isinstance(raw, dict):
        levels = raw.get("levels")
        start = raw.get("start", 1)
        pass_rank = raw.get("pass")
        if not isinstance(start, int) or isinstance(start, bool):
            raise InvalidInput("must be a whole number", field=f"{where}.start")
    if not isinstance(levels, list) or not levels:
        raise InvalidInput("must list at least one level", field=where)
    out: list[dict[str, Any]] = []
    for i, level in enumerate(levels):
        if isinstance(level, dict):
            label = _text(level.get("label"), f"{where}[{i}].label", 255)
            code = _code(level.get("code", _level_slug(label)), f"{where}[{i}].code")
            if len(code) > LEVEL_CODE_MAX:
                raise InvalidInput(f"longer than {LEVEL_CODE_MAX} characters", field=f"{where}[{i}].code")
        else:
            label = _text(level, f"{where}[{i}]", 255)
            code = _level_slug(label)
        out.append({"rank": start + i, "code": code, "label": label})
    if len({level["code"] for level in out}) != len(out):
        raise InvalidInput("two levels have the same code", field=where)
    if pass_rank is not None and (
        not isinstance(pass_rank, int)
        or isinstance(pass_rank, bool)
        or pass_rank not in {level["rank"] for level in out}
    ):
        raise InvalidInput("must be the rank of one of the levels", field=f"{where}.pass")
    return out, pass_rank


def _level_slug(label: str) -> str:
    return slugify(label)[:LEVEL_CODE_MAX].strip("-") or "level"


def import_definition(
    session: Session, est: Establishment, data: Any, create_badges: bool = False
) -> Framework:
    if not isinstance(data, dict):
        raise InvalidInput("a framework must be a mapping with code, title and competencies")
    code = _code(data.get("code"), "code")
    title = _text(data.get("title"), "title", FRAMEWORK_TITLE_MAX)
    uri = _uri(data.get("uri"), "uri")
    scale, pass_rank = parse_scale(data.get("scale"))
    exists = session.scalar(
        select(Framework.id).where(Framework.establishment_id == est.id, Framework.code == code)
    )
    if exists is not None:
        raise Conflict(f"framework {code!r} already exists in {est.slug}")
    fw = Framework(
        establishment_id=est.id,
        code=code,
        title=title,
        description=_text(data.get("description"), "description", 4000, required=False),
        scale=scale,
        pass_rank=pass_rank,
        uri=uri,
    )
    session.add(fw)
    session.flush()
    seen: set[str] = set()
    position = 0

    def add_comp(raw: Any, where: str, block: Block | None, parent: Competency | None) -> None:
        nonlocal position
        if not isinstance(raw, dict):
            raise InvalidInput("must be a mapping with code and title", field=where)
        ccode = _code(raw.get("code"), f"{where}.code")
        if ccode in seen:
            raise InvalidInput(f"competency code {ccode!r} is used twice", field=f"{where}.code")
        seen.add(ccode)
        position += 1
        comp = Competency(
            framework_id=fw.id,
            block_id=block.id if block else None,
            parent_id=parent.id if parent else None,
            code=ccode,
            title=_text(raw.get("title"), f"{where}.title"),
            description=_text(raw.get("description"), f"{where}.description", 4000, required=False),
            position=position,
            uri=_uri(raw.get("uri"), f"{where}.uri"),
        )
        session.add(comp)
        session.flush()
        for level in scale:
            session.add(
                Level(competency_id=comp.id, rank=level["rank"], code=level["code"], label=level["label"])
            )
        facets = raw.get("facets") or []
        if not isinstance(facets, list):
            raise InvalidInput("must be a list", field=f"{where}.facets")
        for j, facet in enumerate(facets):
            add_comp(facet, f"{where}.facets[{j}]", block, comp)
        if create_badges and parent is None:
            session.flush()
            for lv in session.scalars(select(Level).where(Level.competency_id == comp.id)):
                session.add(
                    BadgeClass(
                        establishment_id=est.id,
                        competency_id=comp.id,
                        level_id=lv.id,
                        name=f"{comp.title} — {lv.label}"[:BADGE_NAME_MAX],
                        description=f"{fw.title}: {comp.title}, level {lv.label}.",
                    )
                )

    blocks = data.get("blocks") or []
    if not isinstance(blocks, list):
        raise InvalidInput("must be a list", field="blocks")
    block_codes: set[str] = set()
    for i, raw_block in enumerate(blocks):
        if not isinstance(raw_block, dict):
            raise InvalidInput("must be a mapping with code, title and competencies", field=f"blocks[{i}]")
        bcode = _code(raw_block.get("code"), f"blocks[{i}].code")
        if bcode in block_codes:
            raise InvalidInput(f"block code {bcode!r} is used twice", field=f"blocks[{i}].code")
        block_codes.add(bcode)
        block = Block(
            framework_id=fw.id,
            code=bcode,
            title=_text(raw_block.get("title"), f"blocks[{i}].title"),
            position=i + 1,
            uri=_uri(raw_block.get("uri"), f"blocks[{i}].uri"),
        )
        session.add(block)
        session.flush()
        comps = raw_block.get("competencies") or []
        if not isinstance(comps, list):
            raise InvalidInput("must be a list", field=f"blocks[{i}].competencies")
        for j, raw in enumerate(comps):
            add_comp(raw, f"blocks[{i}].competencies[{j}]", block, None)
    loose = data.get("competencies") or []
    if not isinstance(loose, list):
        raise InvalidInput("must be a list", field="competencies")
    for j, raw in enumerate(loose):
        add_comp(raw, f"competencies[{j}]", None, None)
    if not seen:
        raise InvalidInput("a framework needs at least one competency", field="competencies")
    session.flush()
    return fw


def load_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = getattr(exc, "position", None)  # a ReaderError (control character) has no mark
        if mark is not None:
            where = f" at line {mark.line + 1}"
        elif isinstance(position, int):
            where = f" at line {text.count(chr(10), 0, position) + 1}"
        else:
            where = ""
        raise InvalidInput(f"not valid YAML{where}") from None


def get(session: Session, est: Establishment, code: str | None = None) -> Framework:
    query = select(Framework).where(Framework.establishment_id == est.id)
    if code is not None:
        query = query.where(Framework.code == code)
    found = list(session.scalars(query.limit(2)))
    if not found:
        raise NotFound(f"no framework {code!r} in {est.slug}" if code else f"{est.slug} has no framework yet")
    if len(found) > 1:
        raise InvalidInput(f"{est.slug} has several frameworks: name one with --framework")
    return found[0]


def top_competencies(session: Session, establishment_id: int) -> list[Competency]:
    """The competencies a learner progresses in (facets count through their parent), in the
    order of the establishment's frameworks: what progress pages and gradebook columns list."""
    return list(
        session.scalars(
            select(Competency)
            .join(Framework, Framework.id == Competency.framework_id)
            .where(Framework.establishment_id == establishment_id, Competency.parent_id.is_(None))
            .order_by(Framework.id, Competency.position)
        )
    )
