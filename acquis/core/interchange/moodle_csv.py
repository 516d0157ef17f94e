"""Moodle's competency framework CSV (admin/tool/lpimportcsv) and our definition.

The file, as Moodle's framework_exporter writes it and framework_importer reads it: a header,
one row with ``Is framework`` = 1 (ID number, short name, description, the scale's values
comma-separated and its configuration), then one row per competency, nested by
``Parent ID number`` (empty for the top level) in row order.

* Blocks, competencies and facets are all Moodle competencies, three levels deep. Which top-level
  rows are blocks is said with Moodle's own taxonomy terms: the framework row's ``Taxonomy``
  (one term per depth) starts with ``domain`` when the framework has blocks, and each of our rows
  repeats its term (``domain``, ``competency``, ``skill``) in its own ``Taxonomy`` cell, which
  Moodle's importer leaves unread; that keeps a competency outside any block apart from a block.
* The scale: ``Scale configuration`` is ``[{"scaleid": …}, {"id": n, "scaledefault": 0|1,
  "proficient": 0|1}, …]`` with ``n`` the 1-based position of a value. A numeric scale marks the
  levels from the pass rank up as proficient and the pass level as default; a progressive scale
  (no pass rank, every level earns its badge) marks every level proficient and the first as
  default. Moodle numbers values from 1 and has no level codes, so the first element also
  carries ``"acquis": {"start", "pass", "codes"}``; Moodle's importer decodes that JSON, replaces
  ``scaleid`` and stores the rest as is, so the extra member survives a trip through Moodle.
  Reading a file without it, the lowest proficient value gives the pass rank, unless every value
  is proficient (then the scale is progressive).
* Descriptions are written as plain text (``Description format`` 2); HTML ones (format 1) are read
  back as text. Rules, cross-references and exported ids have no counterpart and are left empty.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from sqlalchemy.orm import Session

from acquis.core import frameworks
from acquis.core.errors import InvalidInput
from acquis.core.interchange.definition import export_definition
from acquis.core.interchange.source import Source
from acquis.core.models import Framework

HEADERS = (
    "Parent ID number",
    "ID number",
    "Short name",
    "Description",
    "Description format",
    "Scale values",
    "Scale configuration",
    "Rule type (optional)",
    "Rule outcome (optional)",
    "Rule config (optional)",
    "Cross-referenced competency ID numbers",
    "Exported ID (optional)",
    "Is framework",
    "Taxonomy",
)
FIELDS = (
    "parent",
    "idnumber",
    "shortname",
    "description",
    "descriptionformat",
    "scalevalues",
    "scaleconfiguration",
    "ruletype",
    "ruleoutcome",
    "ruleconfig",
    "related",
    "exportid",
    "isframework",
    "taxonomy",
)
EXTENSION = "acquis"
FORMAT_HTML = "1"
FORMAT_PLAIN = "2"
MAX_TAXONOMY_LEVELS = 6  # competency_framework::get_taxonomies_max_level()
TAXONOMY = {"block": "domain", "competency": "competency", "facet": "skill"}
NAMES = {"code": "ID number", "title": "Short name", "description": "Description"}


def _normalise_header(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower().replace("(optional)", ""))


HEADER_FIELDS = {_normalise_header(h): f for h, f in zip(HEADERS, FIELDS, strict=True)}


# --- export -------------------------------------------------------------------------------------


def _record(**values: str) -> list[str]:
    """A CSV row in Moodle's column order; columns not given stay empty."""
    return [values.get(name, "") for name in FIELDS]


def definition_to_csv(definition: dict[str, Any]) -> str:
    scale, pass_rank = frameworks.parse_scale(definition.get("scale"))
    for level in scale:
        if "," in level["label"]:
            raise InvalidInput(
                f"level {level['label']!r} has a comma, which a Moodle scale value cannot hold", field="scale"
            )
    start = scale[0]["rank"]
    ours: dict[str, Any] = {"start": start, "pass": pass_rank}
    if any(level["code"] != frameworks.slugify(level["label"]) for level in scale):
        ours["codes"] = [level["code"] for level in scale]
    config: list[dict[str, Any]] = [{"scaleid": "0", EXTENSION: ours}]
    for n, level in enumerate(scale, start=1):
        default = level["rank"] == pass_rank if pass_rank is not None else n == 1
        proficient = pass_rank is None or level["rank"] >= pass_rank
        config.append({"id": n, "scaledefault": int(default), "proficient": int(proficient)})

    rows: list[list[str]] = []
    seen: dict[str, str] = {}
    depth = 1

    def row(entry: dict[str, Any], kind: str, parent: str, path: str, level: int) -> None:
        nonlocal depth
        code = entry["code"]
        if code in seen:
            raise InvalidInput(
                f"{seen[code]} has the same code: Moodle needs distinct ID numbers", field=f"{path}.code"
            )
        seen[code] = path
        depth = max(depth, level)
        rows.append(
            _record(
                parent=parent,
                idnumber=code,
                shortname=entry["title"],
                description=entry.get("description") or "",
                descriptionformat=FORMAT_PLAIN,
                ruleoutcome="0",
                ruleconfig="null",  # what Moodle writes for a competency without a rule
                isframework="0",
                taxonomy=TAXONOMY[kind],
            )
        )
        for i, facet in enumerate(entry.get("facets") or []):
            row(facet, "facet", code, f"{path}.facets[{i}]", level + 1)

    blocks = definition.get("blocks") or []
    for b, block in enumerate(blocks):
        row({**block, "facets": []}, "block", "", f"blocks[{b}]", 1)
        for c, comp in enumerate(block.get("competencies") or []):
            row(comp, "competency", block["code"], f"blocks[{b}].competencies[{c}]", 2)
    for c, comp in enumerate(definition.get("competencies") or []):
        row(comp, "competency", "", f"competencies[{c}]", 1)
    terms = ["domain", "competency"] if blocks else ["competency"]
    terms += ["skill"] * (depth - len(terms))
    framework_row = _record(
        idnumber=definition["code"],
        shortname=definition["title"],
        description=definition.get("description") or "",
        descriptionformat=FORMAT_PLAIN,
        scalevalues=",".join(level["label"] for level in scale),
        scaleconfiguration=json.dumps(config, ensure_ascii=False, separators=(",", ":")),
        isframework="1",
        taxonomy=",".join(terms[:MAX_TAXONOMY_LEVELS]),
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS)
    writer.writerow(framework_row)
    writer.writerows(rows)
    return out.getvalue()


def export_moodle_csv(session: Session, framework: Framework) -> str:
    return definition_to_csv(export_definition(session, framework))


# --- import -------------------------------------------------------------------------------------


class _TextOfHtml(HTMLParser):
    BREAKS = frozenset({"br", "p", "div", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Moodle's editor saves HTML; acquis keeps descriptions as plain text, one paragraph a line."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


@dataclass
class _Row:
    number: int
    values: dict[str, str]
    children: list[_Row] = field(default_factory=list)

    def at(self, column: str) -> str:
        return f"row {self.number}, {column}"


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() not in ("", "0", "false", "no", "none", "null")


def _scale(row: _Row, origins: dict[str, str]) -> dict[str, Any] | None:
    values = row.values["scalevalues"]
    labels = [label.strip() for label in values.split(",")] if values.strip() else []
    raw_config = row.values["scaleconfiguration"].strip()
    where = row.at("Scale configuration")
    try:
        config = json.loads(raw_config) if raw_config else []
    except ValueError:
        raise InvalidInput("not valid JSON", field=where) from None
    if not isinstance(config, list):
        raise InvalidInput(
            'must be a JSON list: [{"scaleid": …}, {"id": 1, "proficient": 1}, …]', field=where
        )
    head = config[0] if config and isinstance(config[0], dict) and "scaleid" in config[0] else None
    ours = head.get(EXTENSION) if head is not None else None
    ours = ours if isinstance(ours, dict) else {}
    if not labels:
        if ours:
            raise InvalidInput("a scale configuration needs the scale values", field=row.at("Scale values"))
        return None
    proficient: list[int] = []
    for k, item in enumerate(config[1:] if head is not None else config):
        if not isinstance(item, dict):
            raise InvalidInput(f"element {k + 1} must be an object with id", field=where)
        try:
            position = int(item.get("id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidInput(f"element {k + 1} needs a numeric id", field=where) from None
        if not 1 <= position <= len(labels):
            raise InvalidInput(f"id {position} is not one of the {len(labels)} scale values", field=where)
        if _truthy(item.get("proficient", 0)):
            proficient.append(position)
    start = ours.get("start", 1)
    if "pass" in ours:
        pass_rank = ours["pass"]
    elif proficient and min(proficient) > 1:
        pass_rank = start + min(proficient) - 1 if isinstance(start, int) else None
    else:
        pass_rank = None  # every value proficient: each level is a step, not a threshold
    levels: list[Any] = labels
    codes = ours.get("codes")
    if codes is not None:
        if not isinstance(codes, list) or len(codes) != len(labels):
            raise InvalidInput(f"acquis.codes must list {len(labels)} level codes", field=where)
        levels = [{"code": code, "label": label} for code, label in zip(codes, labels, strict=True)]
    origins["scale"] = row.at("Scale values")
    for i in range(len(labels)):
        origins[f"scale[{i}]"] = row.at("Scale values")
        origins[f"scale[{i}].code"] = where
    origins["scale.start"] = where
    origins["scale.pass"] = where
    scale: dict[str, Any] = {"levels": levels, "start": start}
    if pass_rank is not None:
        scale["pass"] = pass_rank
    return scale


def read_moodle_csv(text: str) -> Source:
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise InvalidInput(f"not a readable CSV file: {exc}") from None
    if not records:
        raise InvalidInput("the file is empty: it needs Moodle's header row and a framework row")
    header = [_normalise_header(name) for name in records[0]]
    # Moodle maps columns by position unless told otherwise; names win here when they are found.
    index = {
        f: header.index(name) if name in header else FIELDS.index(f) for name, f in HEADER_FIELDS.items()
    }

    framework: _Row | None = None
    rows: list[_Row] = []
    by_id: dict[str, _Row] = {}
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        values = {f: record[i] if i < len(record) else "" for f, i in index.items()}
        row = _Row(number, values)
        if _truthy(values["isframework"]):
            if framework is not None:
                raise InvalidInput(
                    f"a second framework row (the first is row {framework.number}): one framework a file",
                    field=row.at("Is framework"),
                )
            framework = row
            continue
        idnumber = values["idnumber"].strip()
        if not idnumber:
            raise InvalidInput("must not be empty: rows name their parent by it", field=row.at("ID number"))
        if idnumber in by_id:
            raise InvalidInput(
                f"{idnumber!r} is also the ID number of row {by_id[idnumber].number}",
                field=row.at("ID number"),
            )
        by_id[idnumber] = row
        rows.append(row)
    if framework is None:
        raise InvalidInput("the file has no framework row (one with Is framework = 1)", field="Is framework")

    top: list[_Row] = []
    for row in rows:
        parent = row.values["parent"].strip()
        if not parent:
            top.append(row)
        elif parent in by_id:
            by_id[parent].children.append(row)
        else:
            raise InvalidInput(f"no row has the ID number {parent!r}", field=row.at("Parent ID number"))

    origins: dict[str, str] = {
        "": f"row {framework.number}",
        "code": framework.at("ID number"),
        "title": framework.at("Short name"),
        "description": framework.at("Description"),
        "competencies": "competency rows",
    }
    definition: dict[str, Any] = {
        "code": framework.values["idnumber"].strip(),
        "title": framework.values["shortname"],
    }
    description = _description(framework)
    if description:
        definition["description"] = description
    scale = _scale(framework, origins)
    if scale is not None:
        definition["scale"] = scale
    labels = [label.strip() for label in framework.values["scalevalues"].split(",")]
    terms = [term.strip().lower() for term in framework.values["taxonomy"].split(",")]

    seen: set[int] = set()

    def entry(row: _Row, path: str) -> dict[str, Any]:
        seen.add(row.number)
        origins[path] = f"row {row.number}"
        values = row.values["scalevalues"]
        if values.strip() and [label.strip() for label in values.split(",")] != labels:
            raise InvalidInput(
                "differs from the framework's scale: acquis gives all the competencies of a framework "
                "the same scale",
                field=row.at("Scale values"),
            )
        out: dict[str, Any] = {"code": row.values["idnumber"].strip(), "title": row.values["shortname"]}
        text = _description(row)
        if text:
            out["description"] = text
        return out

    def competency(row: _Row, path: str) -> dict[str, Any]:
        out = entry(row, path)
        facets = [competency(child, f"{path}.facets[{i}]") for i, child in enumerate(row.children)]
        if facets:
            out["facets"] = facets
        return out

    blocks: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []
    for row in top:
        term = row.values["taxonomy"].strip().lower() or terms[0]
        if term == TAXONOMY["block"]:
            path = f"blocks[{len(blocks)}]"
            block = entry(row, path)
            block.pop("description", None)  # a block has no description in acquis
            block["competencies"] = [
                competency(child, f"{path}.competencies[{i}]") for i, child in enumerate(row.children)
            ]
            blocks.append(block)
        else:
            loose.append(competency(row, f"competencies[{len(loose)}]"))
    for row in rows:
        if row.number not in seen:
            raise InvalidInput(
                "its Parent ID number leads round in a circle, never to the top level",
                field=row.at("Parent ID number"),
            )
    if blocks:
        definition["blocks"] = blocks
    if loose:
        definition["competencies"] = loose
    return Source(definition, origins=origins, names=NAMES, join="{place}, {name}")


def _description(row: _Row) -> str:
    text = row.values["description"]
    return html_to_text(text) if row.values["descriptionformat"].strip() == FORMAT_HTML else text.strip()
