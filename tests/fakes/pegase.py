"""An HTTP fake of Pégase: the CAS tickets endpoint and the INS v2, CHC v1 and COC publication v2
operations the adapter reads, answering the shapes of Pégase's OpenAPI files
(/work/shared/reference/pegase; tests/integration/test_pegase_fake_contract.py validates every
answer against their schemas).

Each API lives under the prefix of its real server URL, all on one port. Tokens are JWTs with an
``exp`` (unsigned: the client only reads ``exp``); an unknown or expired token gets 401.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request

from tests.live import serve

INS = "/api/ins/ext/v2"
CHC = "/api/ext/chc/v1"
COC = "/api/coc/publication/v2"
CAS = "/cas"


@dataclass
class FakeResult:
    """One object of a learner's COC cursus (the leaf of a chemin)."""

    code: str
    label: str
    result: str | None = "ADM"  # resultatFinal.code, None for none yet
    mark: float | None = 12.0
    scale: int | None = 20
    published: bool = True
    capitalised: bool = False


@dataclass
class FakeStudent:
    code: str  # codeApprenant
    ine: str | None
    first: str
    last: str
    email: str | None
    formation: str = "LIC-INFO"
    results: list[FakeResult] = field(default_factory=list)
    cancelled: bool = False


def _jwt(claims: dict[str, Any]) -> str:
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.{secrets.token_urlsafe(16)}"


def _label(code: str, text: str) -> dict[str, Any]:
    return {"code": code, "libelleCourt": text[:20], "libelleLong": text, "libelleAffichage": text}


@dataclass
class FakePegase:
    username: str = "svc-acquis"
    password: str = "pegase-pass-77"
    structure: str = "ETAB00"
    periode: str = "PER-2024"
    token_lifetime: int = 3600
    students: list[FakeStudent] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token → expiry (epoch)
    calls: Counter[str] = field(default_factory=Counter)
    responses: list[tuple[str, Any]] = field(default_factory=list)  # (operationId, JSON body)
    # (operationId, path as requested, query parameter names): checked against the OpenAPI paths
    requests_seen: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    # ---- what the operations answer ----------------------------------------------------------
    def inscription(self, s: FakeStudent) -> dict[str, Any]:
        """A VueInscription. Its status is sent as ``statutInscription``, the declared property;
        the schema's ``required`` list says ``statusInscription``, a typo (see the contract test)."""
        status = "annulee" if s.cancelled else "valide"
        body: dict[str, Any] = {
            "UAI": "0751234A",
            "idApprenant": f"6f1c2a1e-0000-4000-8000-{int(s.code):012d}",
            "codeApprenant": s.code,
            "dateInscription": "2024-09-02T00:00:00",
            "derniereModification": 1725235200,
            "derniereModificationApprenant": 1725235200,
            "civilite": "F",
            "nomUsage": s.last,
            "nomFamille": s.last,
            "prenom": s.first,
            "dateDeNaissance": "2004-05-17",
            "nationalite": "100",
            "droitPhoto": False,
            "regime": "1",
            "bourses": [],
            "mobilite": "SANS",
            "statutPaiement": "paye",
            "statutInscription": status,
            "inscriptionPrincipale": True,
            "formation": s.formation,
            "anneeUniversitaire": 2024,
            "periode": "Année universitaire 2024-2025",
            "chemin": [
                {
                    "code": s.formation,
                    "type": "FORMATION",
                    "libelleCourt": s.formation,
                    "libelleLong": f"Licence {s.formation}",
                    "idChemin": "0b6a7d7e-1111-4222-8333-444455556666",
                    "idPeriode": "0b6a7d7e-1111-4222-8333-777788889999",
                }
            ],
            "adresses": [],
            "mels": (
                [
                    {
                        "canalCommunication": "VueContactMel",
                        "code": "MEL-PERSO",
                        "libelle": "Mél",
                        "mail": s.email,
                    }
                ]
                if s.email
                else []
            ),
            "telephones": [],
        }
        if s.ine:
            body["INE"] = s.ine
        return body

    def chemin(self, s: FakeStudent, r: FakeResult | None) -> dict[str, Any]:
        """A COC Chemin: the formation root when ``r`` is None, else one of its objects."""
        code, label = (s.formation, f"Licence {s.formation}") if r is None else (r.code, r.label)
        published = r is not None and r.published
        row: dict[str, Any] = {
            "codeChemin": s.formation if r is None else f"{s.formation}>{r.code}",
            "objetFeuille": {"code": code, "libelleCourt": label[:20], "libelleLong": label},
            "bareme": r.scale if r else None,
            "concerneParSession2": False,
            "publieSession1": published,
            "publieSession2": False,
            "publieEvaluationsFinales": published,
            "listeTypeAmenagement": [],
            "listeControle": [],
            "noteFinale": r.mark if published and r else None,
            "resultatFinal": _label(r.result, r.result) if published and r and r.result else None,
            "absenceFinale": None,
            "numeroSessionRetenue": 1 if published else None,
            "delibereFinales": published,
            "mention": None,
            "gradeEcts": None,
            "acquisCapitalise": bool(r and r.capitalised),
        }
        return row

    def cursus(self, s: FakeStudent) -> dict[str, Any]:
        """A CHC Cursus with its pedagogical tree: formation → its objects."""

        def line(code: str, label: str, kind: str, children: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "codeObjetMaquette": code,
                "libelleLongObjetMaquette": label,
                "libelleAffichageTypeObjetFormation": kind,
                "estObligatoire": True,
                "creditEcts": None,
                "amenagements": [],
                "typeChoixPedagogique": "PAS_DE_CHC",
                "enfants": children,
            }

        return {
            "codeStructure": self.structure,
            "periode": {"code": self.periode, "libelleAffichage": "2024-2025", "dateDebut": "2024-09-01"},
            "formation": {"code": s.formation, "libelleLong": f"Licence {s.formation}"},
            "racinePedagogique": line(
                s.formation,
                f"Licence {s.formation}",
                "Formation",
                [line(r.code, r.label, "Bloc de compétences", []) for r in s.results],
            ),
        }

    # ---- the server ------------------------------------------------------------------------------
    def _authorised(self) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        with self.lock:
            expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.time()

    def _json(self, operation: str, body: Any) -> Response:
        self.responses.append((operation, body))
        self.requests_seen.append((operation, request.path, tuple(sorted(request.args))))
        return Response(json.dumps(body), status=200, mimetype="application/json")

    def app(self) -> Flask:
        app = Flask("fake_pegase")
        unauthorised = Response("", status=401)

        @app.post(f"{CAS}/v1/tickets")
        def tickets() -> Response:
            self.calls["tickets"] += 1
            form = request.form
            if form.get("username") != self.username or form.get("password") != self.password:
                return Response("Authentication failed", status=401, mimetype="text/plain")
            if form.get("token") != "true":
                # Without token=true, CAS answers a TGT location, not a JWT.
                return Response("", status=201, headers={"Location": f"{request.url}/TGT-1"})
            exp = time.time() + self.token_lifetime
            token = _jwt({"sub": self.username, "exp": int(exp), "iat": int(time.time())})
            with self.lock:
                self.tokens[token] = exp
            return Response(token, status=201, mimetype="text/plain")

        @app.get(f"{INS}/gestion/flux-inscriptions/pagine")
        def inscriptions() -> Response:
            self.calls["inscriptions"] += 1
            if not self._authorised():
                return unauthorised
            page = int(request.args.get("page", 0))
            size = int(request.args.get("taille", 50))
            if size <= 0 or size > 500:
                return Response("", status=400)
            rows = [self.inscription(s) for s in self.students]
            if request.args.get("codeApprenant"):
                rows = [r for r in rows if r["codeApprenant"] == request.args["codeApprenant"]]
            pages = (len(rows) + size - 1) // size
            body = {
                "taille": size,
                "resultats": rows[page * size : (page + 1) * size],
                "totalElements": len(rows),
                "page": page,
                "totalPages": pages,
            }
            return self._json("listerFluxInscriptionsPagine", body)

        @app.get(f"{CHC}/cursus")
        def cursus() -> Response:
            self.calls["cursus"] += 1
            if not self._authorised():
                return unauthorised
            code = request.args.get("codeApprenant")
            rows = [self.cursus(s) for s in self.students if s.code == code]
            return self._json("lireCursusApprenant", rows)

        @app.get(
            f"{COC}/etablissements/<structure>/periodes/<periode>/apprenants/<apprenant>/chemins/<path:chemin>"
        )
        def results(structure: str, periode: str, apprenant: str, chemin: str) -> Response:
            self.calls["results"] += 1
            if not self._authorised():
                return unauthorised
            student = next((s for s in self.students if s.code == apprenant), None)
            if structure != self.structure or periode != self.periode or student is None:
                return Response("", status=404)
            rows = [self.chemin(student, None)] + [self.chemin(student, r) for r in student.results]
            rows = [r for r in rows if r["codeChemin"] == chemin or r["codeChemin"].startswith(chemin + ">")]
            return self._json("listerCursusPubliableApprenant", rows)

        return app


@contextmanager
def running(fake: FakePegase) -> Iterator[str]:
    with serve(fake.app()) as url:
        yield url


def settings_for(fake: FakePegase, url: str, **overrides: str) -> dict[str, str]:
    """The adapter's settings pointing at the fake."""
    s = {
        "auth_url": url + CAS,
        "ins_url": url + INS,
        "coc_url": url + COC,
        "chc_url": url + CHC,
        "username": fake.username,
        "password": fake.password,
        "structure": fake.structure,
        "periode": fake.periode,
    }
    s.update(overrides)
    return s
