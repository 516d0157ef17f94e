"""OpenBadge Factory API calls per 1,000 awards: batched emission against one call per award.

    python benchmarks/obf_calls.py [--awards 1000] [--badges 20] [--batch-size 100]
                                   [--fault-rate 0.0]

Runs the real OBF adapter and the real outbox against the contract fake of OBF (tests/fakes/obf.py)
on a SQLite file, twice in the same run: with batching (awards of one badge in one issue call)
and with a batch size of 1 (one call per award). Prints the calls of each and their ratio; the
last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from sqlalchemy import select, update

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from acquis.core import adapters, crypto, establishments, frameworks, migrate, tags  # noqa: E402
from acquis.core.db import Database  # noqa: E402
from acquis.core.delivery import Deliverer  # noqa: E402
from acquis.core.ingest import ingest  # noqa: E402
from acquis.core.models import Award, BadgeClass, OutboxMessage, utcnow  # noqa: E402
from acquis.core.plugins import PluginHost  # noqa: E402
from acquis.core.settings import Settings  # noqa: E402
from acquis.core.xapi import parse_batch  # noqa: E402
from acquis.plugins.obf.catalogue import sync_badges  # noqa: E402
from acquis.plugins.obf.plugin import OBFPlugin  # noqa: E402
from tests.fakes.obf import FakeOBF, running  # noqa: E402

HOME = "https://moodle.bench.example"


def run(awards: int, badges: int, batch_size: int, fault_rate: float) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="acquis-obf-"))
    settings = Settings.from_env({"ACQUIS_INSTANCE_PATH": str(tmp)})
    db = Database(settings)
    migrate.upgrade(db.engine)
    host = PluginHost()
    fake = FakeOBF(fault_sleep=1.5)  # a "timeout" fault outlasts the 1 s timeout set below
    fake.add_client("CID", "bench-secret", tuple((f"OBF-{i}", f"Badge {i}") for i in range(badges)))
    with running(fake) as url:
        with db.session() as s:
            est, _ = establishments.create(s, "bench", "Bench University")
            comps = [{"code": f"C{i}", "title": f"Compétence {i}"} for i in range(badges)]
            frameworks.import_definition(
                s,
                est,
                {"code": "b", "title": "b", "scale": ["Novice"], "competencies": comps},
                create_badges=True,
            )
            for i in range(badges):
                tags.add_rule(
                    s, est, tags.find_level(s, est, f"C{i}", "Novice"), [f"{HOME}/mod/quiz/view.php?id={i}"]
                )
            adapters.update_settings(
                s,
                host,
                est,
                "obf",
                {"api_url": url, "client_id": "CID", "client_secret": "bench-secret", "timeout": "1"},
            )
            adapters.set_enabled(s, host, est, "obf", True)
            plugin = host.pm.get_plugin("obf")
            assert isinstance(plugin, OBFPlugin)
            mapping = {
                bc.public_id: f"OBF-{int(bc.name.split()[1])}"
                for bc in s.scalars(select(BadgeClass).where(BadgeClass.establishment_id == est.id))
            }
            sync_badges(s, est, plugin.client(adapters.context(s, est, "obf", settings.public_url)), mapping)
        per_badge = awards // badges
        statements = [
            {
                "actor": {"objectType": "Agent", "name": f"L{u}", "mbox": f"mailto:l{u}@bench.example"},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
                "object": {"id": f"{HOME}/mod/quiz/view.php?id={b}"},
                "result": {"completion": True, "success": True},
            }
            for b in range(badges)
            for u in range(per_badge)
        ]
        for i in range(0, len(statements), 500):
            with db.session() as s:
                ingest(s, host, est.id, [f for f in parse_batch(statements[i : i + 500], utcnow()) if f])
        fake.fault_rate = fault_rate
        before = fake.api_calls()
        deliverer = Deliverer(db, host, "bench", settings.public_url, batch_size=batch_size)
        for _ in range(200):
            with db.session() as s:
                s.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.status == "pending")
                    .values(available_at=utcnow())
                )
            while deliverer.run_once(limit=500):
                pass
            with db.session() as s:
                left = s.scalars(select(OutboxMessage.id).where(OutboxMessage.status != "done")).first()
            if left is None:
                break
        calls = fake.api_calls() - before
        with db.session() as s:
            issued = len(s.scalars(select(Award.id).where(Award.status == "issued")).all())
    db.dispose()
    assert issued == per_badge * badges, f"only {issued} issued"
    assert set(fake.issuances().values()) == {1}, "a recipient was issued a badge twice"
    return {"awards": issued, "calls": calls, "calls_per_1000": round(calls * 1000 / issued, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--awards", type=int, default=1000)
    ap.add_argument("--badges", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--modes", default="batched,single", help="which runs: batched, single or both")
    args = ap.parse_args()
    modes = set(args.modes.split(","))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fake's request log
    logging.getLogger("acquis.delivery").setLevel(logging.ERROR)  # injected faults are expected
    crypto.configure((crypto.generate_key(),))
    results: dict[str, dict[str, float]] = {}
    if "batched" in modes:
        results["batched"] = run(args.awards, args.badges, args.batch_size, args.fault_rate)
        print(
            f"batched (size {args.batch_size}): "
            f"{results['batched']['calls_per_1000']} API calls per 1,000 awards"
        )
    if "single" in modes:
        results["single"] = run(args.awards, args.badges, 1, args.fault_rate)
        print(f"one call per award:      {results['single']['calls_per_1000']} API calls per 1,000 awards")
    summary: dict[str, float] = {"awards": args.awards, "badges": args.badges, "fault_rate": args.fault_rate}
    for mode, figures in results.items():
        summary[f"{mode}_calls_per_1000"] = figures["calls_per_1000"]
    if len(results) == 2:
        summary["ratio"] = round(
            results["batched"]["calls_per_1000"] / results["single"]["calls_per_1000"], 3
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
