"""`acquis serve` (web + in-process worker) and `acquis worker` (deliveries only)."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from typing import Any

import click

from acquis.cli import runtime as cli_runtime
from acquis.cli.errors import friendly
from acquis.core import metrics
from acquis.core.runtime import configure_logging
from acquis.core.worker import Worker

log = logging.getLogger("acquis.serve")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@friendly
def serve(host: str, port: int, threads: int) -> None:
    """Run the service: creates and migrates the database on first start, delivers in-process."""
    import waitress

    from acquis.web.app import create_app

    rt = cli_runtime.get(upgrade=True)
    configure_logging(rt.settings)
    if "ACQUIS_PUBLIC_URL" not in os.environ:
        # Badges carry this URL for good: without a setting, use the address being served.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        rt.settings = dataclasses.replace(rt.settings, public_url=f"http://{shown}:{port}")
        if shown != host:
            log.warning("set ACQUIS_PUBLIC_URL: badges issued now point to %s", rt.settings.public_url)
    if rt.settings.worker == "inprocess":
        rt.worker = Worker(rt.db, rt.host, rt.settings.public_url)
        rt.worker.start_thread()
    elif rt.settings.worker == "celery":
        from acquis.queue.celery_app import Notifier, app_from_env

        rt.notifier = Notifier(app_from_env())
    app = create_app(rt)
    click.echo(f"acquis listening on http://{host}:{port} (public URL {rt.settings.public_url})")
    click.echo(f"instance folder: {rt.settings.instance_path}; deliveries: {rt.settings.worker}")
    waitress.serve(app, host=host, port=port, threads=threads, ident="acquis")


@click.command()
@click.option("--once", is_flag=True, help="Deliver what is due, then exit.")
@click.option(
    "--celery",
    "use_celery",
    is_flag=True,
    help="Run as a Celery worker (with the outbox sweeper) on ACQUIS_BROKER_URL.",
)
@click.option(
    "--concurrency", default=2, show_default=True, type=click.IntRange(1, 64), help="Celery worker processes."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT (see docs/operations.md).",
)
@click.option(
    "--name",
    default=None,
    help="Celery node name (default celery@<host>); give each worker on one host its own, e.g. w1@%h.",
)
@click.option(
    "--poll", default=1.0, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds between polls."
)
@friendly
def worker(
    once: bool, poll: float, use_celery: bool, concurrency: int, metrics_port: int | None, name: str | None
) -> None:
    """Deliver the outbox (badges, pushes to other systems) in this process, or as a Celery worker."""
    rt = cli_runtime.get()
    if metrics_port is not None:
        if use_celery and not metrics.multiprocess():
            raise click.UsageError(
                "Celery's worker processes count apart: set PROMETHEUS_MULTIPROC_DIR to an empty folder "
                "to serve their metrics"
            )
        metrics.serve(rt.db, metrics_port)
    if use_celery:
        from acquis.queue.celery_app import app_from_env

        app = app_from_env()
        rt.settings.instance_path.mkdir(parents=True, exist_ok=True)
        # --beat: this worker also sweeps the outbox for retries and for anything enqueued while
        # the broker was away. Several sweepers only mean extra wake-ups: leases keep each
        # message to one worker. The sweep needs no memory across restarts, so beat keeps its
        # schedule in memory: several workers on one host (acquis-worker@N) share no file.
        argv = [
            "worker",
            "--beat",
            "--scheduler=celery.beat:Scheduler",
            f"--concurrency={concurrency}",
            f"--loglevel={rt.settings.log_level}",
            "--without-gossip",
            "--without-mingle",
        ]
        if name:
            argv.append(f"--hostname={name}")
        app.worker_main(argv)
        return
    configure_logging(rt.settings)
    w = Worker(rt.db, rt.host, rt.settings.public_url, poll_interval=poll)
    if once:
        total = 0
        while (n := w.deliverer.run_once()) > 0:
            total += n
        click.echo(f"delivered {total} message(s)")
        return
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()
        w.stop(timeout=0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    w.run()


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(worker)
