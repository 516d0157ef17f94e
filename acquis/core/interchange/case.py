"""1EdTech CASE packages (a CFPackage: CFDocument, CFItems, CFAssociations, CFRubrics) and our definition.

Mapping, both ways:

* CFDocument → the framework (title, description, uri); CFItems → blocks when their CFItemType
  names a block ("Bloc de compétences", "Block"…), competencies otherwise (fullStatement → title,
  humanCodingScheme → code, notes → description); ``isChildOf`` associations give the tree (a
  child of the document is top level, a child of a block a competency of that block, a child of a
  competency one of its facets) and ``sequenceNumber`` the order.
* The level scale: CASE's home for performance levels is the rubric, so the scale is written as one
  CFRubric with a criterion per competency (``CFItemURI`` → the item) whose CFRubricCriterionLevels
  carry each level (``quality`` = label, ``score`` = rank, ``position``). Any CASE tool shows them.
  What rubrics cannot say — the framework's code, the pass rank of a numeric scale, level codes
  that are not derived from labels — goes in ``CFDocument.extensions.acquis``: ``extensions`` is
  the CASE 1.1 extension point on CFDocument and the CASE 1.0 schema admits extra CFDocument
  members, whereas CFRubric takes no extra member in 1.0. A package without rubric levels gets the
  default five-level scale.
* Identifiers: CASE wants UUIDs. An object we imported from CASE keeps its ``uri`` (our ``uri``
  column) and its identifier is read back from the UUID at the end of that URI, as CASE servers
  publish them (``…/CFItems/<identifier>``); an object with no stored URI gets a UUIDv5 derived
  from the document and its code, and ``urn:uuid:<identifier>`` as URI, so that exporting twice
  gives the same identifiers.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from acquis.core import frameworks
from acquis.core.errors import InvalidInput
from acquis.core.interchange.definition import export_definition
from acquis.core.interchange.source import Source
from acquis.core.models import DEFAULT_SCALE, Establishment, Framework

EXTENSION = "acquis"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
ITEM_TYPES = {"block": "Bloc de compétences", "competency": "Compétence", "facet": "Composante"}
BLOCK_TYPES = {"block", "bloc", "bloc de competences", "competency block", "block of competencies"}
NAMES = {"code": "humanCodingScheme", "title": "fullStatement", "description": "notes", "label": "quality"}


# --- export -------------------------------------------------------------------------------------


def _ids(stored: str | None, namespace: uuid.UUID, name: str) -> tuple[str, str]:
    """(identifier, uri) for an object, stable across exports."""
    if stored:
        found = UUID_RE.findall(stored.lower())
        identifier = found[-1] if found else str(uuid.uuid5(uuid.NAMESPACE_URL, stored))
        return identifier, stored
    identifier = str(uuid.uuid5(namespace, name))
    return identifier, f"urn:uuid:{identifier}"


def _link(title: str, identifier: str, uri: str) -> dict[str, str]:
    return {"title": title, "identifier": identifier, "uri": uri}


def _stamp(moment: datetime | None) -> str:
    moment = (moment or datetime(1970, 1, 1, tzinfo=UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def definition_to_case(
    definition: dict[str, Any], creator: str, language: str, stamp: str, document_name: str
) -> dict[str, Any]:
    """The CFPackage for a definition; ``document_name`` seeds the identifiers of a framework with no URI."""
    scale, pass_rank = frameworks.parse_scale(definition.get("scale"))
    doc_id, doc_uri = _ids(definition.get("uri"), uuid.NAMESPACE_URL, document_name)
    ns = uuid.UUID(doc_id)
    doc_link = _link(definition["title"], doc_id, doc_uri)
    document: dict[str, Any] = {
        "identifier": doc_id,
        "uri": doc_uri,
        "creator": creator,
        "title": definition["title"],
        "lastChangeDateTime": stamp,
    }
    if definition.get("description"):
        document["description"] = definition["description"]
    document["language"] = language
    ours: dict[str, Any] = {"code": definition["code"], "passScore": pass_rank}
    if any(level["code"] != frameworks.slugify(level["label"]) for level in scale):
        ours["levelCodes"] = [level["code"] for level in scale]
    document["extensions"] = {EXTENSION: ours}

    rubric_id = str(uuid.uuid5(ns, "rubric"))
    items: list[dict[str, Any]] = []
    associations: list[dict[str, Any]] = []
    criteria: list[dict[str, Any]] = []

    def add(entry: dict[str, Any], kind: str, parent: dict[str, str], sequence: int) -> dict[str, str]:
        family = "block" if kind == "block" else "competency"
        identifier, uri = _ids(entry.get("uri"), ns, f"{family}:{entry['code']}")
        item: dict[str, Any] = {
            "identifier": identifier,
            "uri": uri,
            "fullStatement": entry["title"],
            "humanCodingScheme": entry["code"],
            "CFItemType": ITEM_TYPES[kind],
        }
        if entry.get("description"):
            item["notes"] = entry["description"]
        item["lastChangeDateTime"] = stamp
        item["CFDocumentURI"] = doc_link
        items.append(item)
        link = _link(entry["code"], identifier, uri)
        assoc_id = str(uuid.uuid5(ns, f"isChildOf:{identifier}:{parent['identifier']}"))
        associations.append(
            {
                "identifier": assoc_id,
                "uri": f"urn:uuid:{assoc_id}",
                "associationType": "isChildOf",
                "originNodeURI": link,
                "destinationNodeURI": parent,
                "sequenceNumber": sequence,
                "lastChangeDateTime": stamp,
                "CFDocumentURI": doc_link,
            }
        )
        if kind != "block":
            criterion_id = str(uuid.uuid5(ns, f"criterion:{entry['code']}"))
            levels = []
            for position, level in enumerate(scale, start=1):
                level_id = str(uuid.uuid5(ns, f"level:{entry['code']}:{level['rank']}"))
                levels.append(
                    {
                        "identifier": level_id,
                        "uri": f"urn:uuid:{level_id}",
                        "quality": level["label"],
                        "score": level["rank"],
                        "position": position,
                        "rubricCriterionId": criterion_id,
                        "lastChangeDateTime": stamp,
                    }
                )
            criteria.append(
                {
                    "identifier": criterion_id,
                    "uri": f"urn:uuid:{criterion_id}",
                    "category": ITEM_TYPES[kind],
                    "description": entry["title"],
                    "CFItemURI": link,
                    "position": len(criteria) + 1,
                    "rubricId": rubric_id,
                    "lastChangeDateTime": stamp,
                    "CFRubricCriterionLevels": levels,
                }
            )
            for n, facet in enumerate(entry.get("facets") or [], start=1):
                add(facet, "facet", link, n)
        return link

    top = 0
    for block in definition.get("blocks") or []:
        top += 1
        link = add(block, "block", doc_link, top)
        for n, comp in enumerate(block.get("competencies") or [], start=1):
            add(comp, "competency", link, n)
    for comp in definition.get("competencies") or []:
        top += 1
        add(comp, "competency", doc_link, top)

    if pass_rank is None:
        reading = "Each level is reached in turn, from the first to the last."
    else:
        label = next(level["label"] for level in scale if level["rank"] == pass_rank)
        reading = f"A competency is validated from level {label!r} (score {pass_rank}) up."
    rubric = {
        "identifier": rubric_id,
        "uri": f"urn:uuid:{rubric_id}",
        "title": f"Levels: {definition['title']}",
        "description": reading,
        "lastChangeDateTime": stamp,
        "CFRubricCriteria": criteria,
    }
    return {
        "CFDocument": document,
        "CFItems": items,
        "CFAssociations": associations,
        "CFRubrics": [rubric],
    }


def export_case(session: Session, framework: Framework) -> dict[str, Any]:
    est = session.get(Establishment, framework.establishment_id)
    assert est is not None  # the foreign key guarantees it
    return definition_to_case(
        export_definition(session, framework),
        creator=est.name,
        language=est.locale,
        stamp=_stamp(framework.created_at),
        document_name=f"urn:acquis:{est.slug}:framework:{framework.code}",
    )


def dump_case(package: dict[str, Any]) -> str:
    return json.dumps(package, ensure_ascii=False, indent=2) + "\n"


# --- import -------------------------------------------------------------------------------------


@dataclass
class _Node:
    where: str
    raw: dict[str, Any]
    is_block: bool
    parent: str | None = None
    parent_where: str = ""
    children: list[tuple[bool, int, int, str]] = field(default_factory=list)


def _ordered(children: list[tuple[bool, int, int, str]]) -> list[str]:
    """Identifiers by sequenceNumber (those without one last), then in association order."""
    return [identifier for *_, identifier in sorted(children)]


def _fold(text: str) -> str:
    return frameworks.slugify(text).replace("-", " ")


def _is_block(raw: dict[str, Any]) -> bool:
    names = [raw.get("CFItemType")]
    type_link = raw.get("CFItemTypeURI")
    if isinstance(type_link, dict):
        names.append(type_link.get("title"))
    return any(isinstance(name, str) and _fold(name) in BLOCK_TYPES for name in names)


def _identifier(raw: dict[str, Any], where: str) -> str:
    value = raw.get("identifier")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("must be a non-empty text (a UUID)", field=f"{where}.identifier")
    return value.strip().lower()


def _stored_uri(raw: dict[str, Any], identifier: str, where: str) -> str | None:
    """What our ``uri`` column keeps: the CASE URI, or the identifier as a URN when there is none."""
    uri = raw.get("uri")
    if uri is None or uri == "":
        return f"urn:uuid:{identifier}" if UUID_RE.fullmatch(identifier) else None
    if not isinstance(uri, str):
        raise InvalidInput("must be a text (a URI)", field=f"{where}.uri")
    if len(uri) > 512:
        raise InvalidInput("longer than 512 characters", field=f"{where}.uri")
    return uri


def _document_code(title: Any, identifier: str) -> str:
    """A code for a document that does not carry ours: its title, made into a code."""
    text = unicodedata.normalize("NFKD", title if isinstance(title, str) else "")
    slug = re.sub(r"[^a-z0-9]+", "-", text.encode("ascii", "ignore").decode().lower()).strip("-")
    return slug[:64].strip("-") or f"case-{identifier[:8]}"


def _scale(
    data: dict[str, Any], root: str, ours: dict[str, Any], ext_where: str, origins: dict[str, str]
) -> dict[str, Any] | None:
    rubrics = data.get("CFRubrics") or []
    if not isinstance(rubrics, list):
        raise InvalidInput("must be a list", field=f"{root}CFRubrics")
    found: list[tuple[str, Any]] | None = None
    found_where = ""
    for r, rubric in enumerate(rubrics):
        where_r = f"{root}CFRubrics[{r}]"
        if not isinstance(rubric, dict):
            raise InvalidInput("must be an object", field=where_r)
        criteria = rubric.get("CFRubricCriteria") or []
        if not isinstance(criteria, list):
            raise InvalidInput("must be a list", field=f"{where_r}.CFRubricCriteria")
        for c, criterion in enumerate(criteria):
            where_c = f"{where_r}.CFRubricCriteria[{c}]"
            if not isinstance(criterion, dict):
                raise InvalidInput("must be an object", field=where_c)
            levels = criterion.get("CFRubricCriterionLevels") or []
            if not isinstance(levels, list):
                raise InvalidInput("must be a list", field=f"{where_c}.CFRubricCriterionLevels")
            ordered: list[tuple[bool, int, int, str, Any]] = []
            for k, level in enumerate(levels):
                where_l = f"{where_c}.CFRubricCriterionLevels[{k}]"
                if not isinstance(level, dict):
                    raise InvalidInput("must be an object", field=where_l)
                quality = level.get("quality")
                if not isinstance(quality, str) or not quality.strip():
                    raise InvalidInput("must name the level", field=f"{where_l}.quality")
                position = level.get("position")
                if position is not None and (not isinstance(position, int) or isinstance(position, bool)):
                    raise InvalidInput("must be a whole number", field=f"{where_l}.position")
                score = level.get("score")
                if score is not None and (not isinstance(score, int | float) or isinstance(score, bool)):
                    raise InvalidInput("must be a number", field=f"{where_l}.score")
                ordered.append((position is None, position or 0, k, quality.strip(), score))
            if not ordered:
                continue
            ordered.sort()
            sequence = [(quality, score) for *_, quality, score in ordered]
            if found is None:
                found, found_where = sequence, where_c
                for i, (_, _, k, _, _) in enumerate(ordered):
                    origins[f"scale[{i}]"] = f"{where_c}.CFRubricCriterionLevels[{k}]"
            elif sequence != found:
                raise InvalidInput(
                    f"its levels differ from those of {found_where}: acquis gives all the competencies "
                    "of a framework the same scale",
                    field=where_c,
                )
    origins["scale"] = found_where or ext_where
    if found is None and "passScore" not in ours and "levelCodes" not in ours:
        return None
    if found is None:
        found = [(level["label"], level["rank"]) for level in DEFAULT_SCALE]
    scores = [score for _, score in found]
    start = 1
    if all(isinstance(s, int | float) and float(s).is_integer() for s in scores) and all(
        scores[i] == scores[0] + i for i in range(len(scores))
    ):
        start = int(scores[0])
    labels = [label for label, _ in found]
    named: list[Any] = labels
    codes = ours.get("levelCodes")
    if codes is not None:
        if not isinstance(codes, list) or len(codes) != len(labels):
            raise InvalidInput(f"must list {len(labels)} level codes", field=f"{ext_where}.levelCodes")
        named = [{"code": code, "label": label} for code, label in zip(codes, labels, strict=True)]
        for i in range(len(codes)):
            origins[f"scale[{i}].code"] = f"{ext_where}.levelCodes[{i}]"
    scale: dict[str, Any] = {"levels": named, "start": start}
    if ours.get("passScore") is not None:
        scale["pass"] = ours["passScore"]
        origins["scale.pass"] = f"{ext_where}.passScore"
    return scale


def parse_case(data: Any) -> Source:
    """The definition in a CFPackage (bare, or wrapped as ``{"CFPackage": …}`` by CASE 1.1 services)."""
    root = ""
    if isinstance(data, dict) and isinstance(data.get("CFPackage"), dict):
        data, root = data["CFPackage"], "CFPackage."
    if not isinstance(data, dict):
        raise InvalidInput("a CASE package must be a JSON object with CFDocument, CFItems and CFAssociations")
    doc = data.get("CFDocument")
    if not isinstance(doc, dict):
        raise InvalidInput("missing: a CASE package has one CFDocument object", field=f"{root}CFDocument")
    doc_where = f"{root}CFDocument"
    doc_id = _identifier(doc, doc_where)
    extensions = doc.get("extensions")
    ours = extensions.get(EXTENSION) if isinstance(extensions, dict) else None
    ours = ours if isinstance(ours, dict) else {}
    ext_where = f"{doc_where}.extensions.{EXTENSION}"
    origins: dict[str, str] = {
        "": doc_where,
        "title": f"{doc_where}.title",
        "description": f"{doc_where}.description",
        "uri": f"{doc_where}.uri",
        "competencies": f"{root}CFItems",
    }
    if "code" in ours:
        code = ours["code"]
        origins["code"] = f"{ext_where}.code"
    else:
        code = _document_code(doc.get("title"), doc_id)
        origins["code"] = f"{doc_where}.title"

    raw_items = data.get("CFItems") or []
    if not isinstance(raw_items, list):
        raise InvalidInput("must be a list", field=f"{root}CFItems")
    nodes: dict[str, _Node] = {}
    by_uri: dict[str, str] = {}
    doc_uri = doc.get("uri")
    for i, raw in enumerate(raw_items):
        where = f"{root}CFItems[{i}]"
        if not isinstance(raw, dict):
            raise InvalidInput("must be an object", field=where)
        identifier = _identifier(raw, where)
        if identifier in nodes or identifier == doc_id:
            raise InvalidInput(f"identifier {identifier} is used twice", field=f"{where}.identifier")
        nodes[identifier] = _Node(where=where, raw=raw, is_block=_is_block(raw))
        if isinstance(raw.get("uri"), str):
            by_uri[raw["uri"]] = identifier

    def resolve(link: Any, where: str) -> str | None:
        """The identifier a LinkGenURI points at inside this package, or None."""
        if not isinstance(link, dict):
            raise InvalidInput("must be an object with identifier and uri", field=where)
        ref = link.get("identifier")
        if isinstance(ref, str) and (ref.strip().lower() in nodes or ref.strip().lower() == doc_id):
            return ref.strip().lower()
        uri = link.get("uri")
        if isinstance(uri, str):
            if uri in by_uri:
                return by_uri[uri]
            if uri == doc_uri:
                return doc_id
        return None

    top: list[tuple[bool, int, int, str]] = []
    raw_assocs = data.get("CFAssociations") or []
    if not isinstance(raw_assocs, list):
        raise InvalidInput("must be a list", field=f"{root}CFAssociations")
    for j, raw in enumerate(raw_assocs):
        where = f"{root}CFAssociations[{j}]"
        if not isinstance(raw, dict):
            raise InvalidInput("must be an object", field=where)
        if raw.get("associationType") != "isChildOf":
            continue
        child = resolve(raw.get("originNodeURI"), f"{where}.originNodeURI")
        if child is None or child == doc_id:
            raise InvalidInput("names no CFItem of this package", field=f"{where}.originNodeURI")
        parent = resolve(raw.get("destinationNodeURI"), f"{where}.destinationNodeURI")
        if parent is None:
            raise InvalidInput(
                "names neither the CFDocument nor a CFItem of this package",
                field=f"{where}.destinationNodeURI",
            )
        sequence = raw.get("sequenceNumber")
        if sequence is not None and (not isinstance(sequence, int) or isinstance(sequence, bool)):
            raise InvalidInput("must be a whole number", field=f"{where}.sequenceNumber")
        node = nodes[child]
        if node.parent is not None:
            if node.parent == parent:
                continue  # the same link twice
            raise InvalidInput(
                f"{node.where} is already a child of another node ({node.parent_where}); "
                "acquis keeps one parent per item",
                field=where,
            )
        if parent == child:
            raise InvalidInput("an item cannot be its own child (isChildOf cycle)", field=where)
        node.parent, node.parent_where = parent, where
        link = (sequence is None, sequence or 0, j, child)
        (top if parent == doc_id else nodes[parent].children).append(link)

    definition: dict[str, Any] = {"code": code, "title": doc.get("title")}
    if doc.get("description") not in (None, ""):
        definition["description"] = doc["description"]
    stored = _stored_uri(doc, doc_id, doc_where)
    if stored is not None:
        definition["uri"] = stored
    scale = _scale(data, root, ours, ext_where, origins)
    if scale is not None:
        definition["scale"] = scale

    seen: set[str] = set()

    def entry(identifier: str, path: str) -> dict[str, Any]:
        node = nodes[identifier]
        seen.add(identifier)
        origins[path] = node.where
        raw = node.raw
        code = raw.get("humanCodingScheme")
        out: dict[str, Any] = {
            "code": code if code not in (None, "") else f"item-{identifier[:8]}",
            "title": raw.get("fullStatement"),
        }
        description = raw.get("notes") or raw.get("abbreviatedStatement")
        if description:
            out["description"] = description
        stored = _stored_uri(raw, identifier, node.where)
        if stored is not None:
            out["uri"] = stored
        return out

    def competency(identifier: str, path: str) -> dict[str, Any]:
        out = entry(identifier, path)
        facets = []
        for n, child in enumerate(_ordered(nodes[identifier].children)):
            if nodes[child].is_block:
                raise InvalidInput("a block can only hang from the document", field=f"{nodes[child].where}")
            facets.append(competency(child, f"{path}.facets[{n}]"))
        if facets:
            out["facets"] = facets
        return out

    blocks: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []
    for identifier in _ordered(top):
        node = nodes[identifier]
        if node.is_block:
            path = f"blocks[{len(blocks)}]"
            block = entry(identifier, path)
            block.pop("description", None)  # a block has no description in acquis
            comps = []
            for n, child in enumerate(_ordered(node.children)):
                if nodes[child].is_block:
                    raise InvalidInput("a block can only hang from the document", field=nodes[child].where)
                comps.append(competency(child, f"{path}.competencies[{n}]"))
            block["competencies"] = comps
            blocks.append(block)
        else:
            loose.append(competency(identifier, f"competencies[{len(loose)}]"))
    for identifier, node in nodes.items():
        if identifier not in seen:
            if node.parent is None:
                raise InvalidInput("no isChildOf association attaches it to the document", field=node.where)
            raise InvalidInput("it is part of an isChildOf cycle, or hangs from one", field=node.where)
    if blocks:
        definition["blocks"] = blocks
    if loose:
        definition["competencies"] = loose
    return Source(definition, origins=origins, names=NAMES)


def read_case(text: str) -> Source:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    return parse_case(data)
