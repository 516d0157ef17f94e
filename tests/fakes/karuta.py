"""An HTTP fake of Karuta's REST backend (karutaproject/karuta-backend_legacy, ``/rest/api``).

It follows RestServicePortfolio.java for the calls the adapter makes: ``POST /credential/login``
(the credential XML; 403 "invalid credential" on a wrong password, a session cookie otherwise),
``GET /portfolios/portfolio/code/{code}`` (404 and an empty body for an unknown code),
``POST /nodes/node/{parent}`` (answers ``<nodes><asmUnit id="…"/></nodes>``),
``PUT /nodes/node/{id}/noderesource``, ``PUT /resources/resource/{context id}`` and
``GET /nodes/node/{id}``. A call without a live session gets 401, as ``checkCredential`` does.
Portfolios are kept as XML trees; every node written gets a uuid, as Karuta gives one.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask, Response, request
from lxml import etree

from tests.live import serve

REST = "/karuta-backend/rest/api"
NODE_TAGS = {"asmRoot", "asmStructure", "asmUnit", "asmUnitStructure", "asmContext"}


@dataclass
class FakeKaruta:
    users: dict[str, str] = field(default_factory=lambda: {"acquis": "karuta-pass-31"})
    portfolios: dict[str, etree._Element] = field(default_factory=dict)  # code → <portfolio>
    sessions: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    # A hostile or broken Karuta: portfolio code → the raw bytes answered instead of the tree.
    raw_answers: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def add_portfolio(self, code: str, label: str = "Portfolio") -> str:
        """A student's portfolio as Karuta returns it: a portfolio element around its asmRoot."""
        pid, rid = str(uuid.uuid4()), str(uuid.uuid4())
        portfolio = etree.Element("portfolio", id=pid, root_node_id=rid, owner="N", modified="2026-01-01")
        etree.SubElement(portfolio, "version").text = "4"
        root = etree.SubElement(portfolio, "asmRoot", id=rid)
        etree.SubElement(root, "metadata", semantictag="root", sharedNode="N", sharedNodeResource="N")
        etree.SubElement(root, "metadata-wad")
        etree.SubElement(root, "metadata-epm")
        res = etree.SubElement(root, "asmResource", xsi_type="nodeRes")
        etree.SubElement(res, "code").text = code
        etree.SubElement(res, "label", lang="fr").text = label
        etree.SubElement(root, "asmResource", xsi_type="context")
        self.portfolios[code] = portfolio
        return rid

    def _node(self, node_id: str) -> etree._Element | None:
        for portfolio in self.portfolios.values():
            for node in portfolio.iter(*NODE_TAGS):
                if node.get("id") == node_id:
                    return node
        return None

    def units(self, code: str, tag: str | None = None) -> list[etree._Element]:
        """The units of a portfolio (with ``tag``: those of this semantic tag)."""

        def tag_of(unit: etree._Element) -> str | None:
            meta = unit.find("metadata")
            return meta.get("semantictag") if meta is not None else None

        return [u for u in self.portfolios[code].iter("asmUnit") if tag is None or tag_of(u) == tag]

    @staticmethod
    def text_of(node: etree._Element, resource_type: str, child: str) -> str | None:
        for res in node.iter("asmResource"):
            if res.get("xsi_type") == resource_type:
                return res.findtext(child)
        return None

    def app(self) -> Flask:
        app = Flask("fake_karuta")

        def logged_in() -> bool:
            return request.cookies.get("JSESSIONID") in self.sessions

        def xml(body: bytes | str, status: int = 200) -> Response:
            return Response(body, status=status, mimetype="application/xml")

        @app.post(f"{REST}/credential/login")
        def login() -> Response:
            self.calls["login"] += 1
            try:
                doc = etree.fromstring(request.get_data())
            except etree.XMLSyntaxError:
                return Response("invalid credential", status=403)
            name, password = doc.findtext("login") or "", doc.findtext("password") or ""
            if doc.tag != "credential" or self.users.get(name) != password:
                return Response("invalid credential", status=403)
            sid = secrets.token_hex(16)
            self.sessions.add(sid)
            resp = xml(f"<credential><useridentifier>{name}</useridentifier><id>2</id></credential>")
            resp.set_cookie("JSESSIONID", sid, httponly=True)
            return resp

        @app.get(f"{REST}/portfolios/portfolio/code/<path:code>")
        def by_code(code: str) -> Response:
            self.calls["portfolio"] += 1
            if not logged_in():
                return Response("", status=401)
            if code in self.raw_answers:
                return xml(self.raw_answers[code])
            portfolio = self.portfolios.get(code)
            if portfolio is None:
                return xml("", status=404)
            return xml(etree.tostring(portfolio, encoding="UTF-8"))

        @app.get(f"{REST}/nodes/node/<node_id>")
        def get_node(node_id: str) -> Response:
            if not logged_in():
                return Response("", status=401)
            node = self._node(node_id)
            return xml(etree.tostring(node, encoding="UTF-8")) if node is not None else xml("", 404)

        @app.post(f"{REST}/nodes/node/<parent_id>")
        def post_node(parent_id: str) -> Response:
            self.calls["post_node"] += 1
            if not logged_in():
                return Response("", status=401)
            with self.lock:
                parent = self._node(parent_id)
                if parent is None:
                    return Response("Not UUID", status=400)
                node = etree.fromstring(request.get_data())
                if node.tag not in NODE_TAGS:
                    return Response("not a node", status=400)
                for n in node.iter(*NODE_TAGS):
                    n.set("id", str(uuid.uuid4()))
                    for res in n.findall("asmResource"):
                        if res.get("xsi_type") not in ("nodeRes", "context"):
                            res.set("id", str(uuid.uuid4()))
                            res.set("contextid", str(n.get("id")))
                parent.append(node)
            return xml(f'<nodes><{node.tag} id="{node.get("id")}" /></nodes>')

        def replace(node: etree._Element, new: etree._Element, match: str | None) -> None:
            for res in node.findall("asmResource"):
                kind = res.get("xsi_type")
                if (match is not None and kind == match) or (
                    match is None and kind not in ("nodeRes", "context")
                ):
                    for attr in ("id", "contextid"):
                        if res.get(attr):
                            new.set(attr, str(res.get(attr)))
                    node.replace(res, new)
                    return
            node.append(new)

        @app.put(f"{REST}/nodes/node/<node_id>/noderesource")
        def put_noderesource(node_id: str) -> Response:
            self.calls["put_noderesource"] += 1
            if not logged_in():
                return Response("", status=401)
            with self.lock:
                node = self._node(node_id)
                if node is None:
                    return xml("", 404)
                replace(node, etree.fromstring(request.get_data()), "nodeRes")
            return xml("")

        @app.put(f"{REST}/resources/resource/<context_id>")
        def put_resource(context_id: str) -> Response:
            self.calls["put_resource"] += 1
            if not logged_in():
                return Response("", status=401)
            with self.lock:
                node = self._node(context_id)
                if node is None or node.tag != "asmContext":
                    return xml("", 404)
                replace(node, etree.fromstring(request.get_data()), None)
            return xml("")

        return app


@contextmanager
def running(fake: FakeKaruta) -> Iterator[str]:
    with serve(fake.app()) as url:
        yield url + REST
