"""`acquis serve` as a user runs it: a fresh instance folder, ready within seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_is_ready_within_seconds_on_an_empty_instance_folder(tmp_path: Path) -> None:
    port = _free_port()
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACQUIS_")}
    env["ACQUIS_INSTANCE_PATH"] = str(instance)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "acquis", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        ready = None
        while time.monotonic() - started < 20:
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        elapsed = time.monotonic() - started
        assert ready is not None, "the server never answered"
        assert ready.status_code == 200, ready.text
        assert ready.json()["migrations"] == "current"
        assert elapsed < 10, f"ready after {elapsed:.1f}s"
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json() == {"status": "ok"}
        assert (instance / "acquis.db").exists()
        key = instance / "secret.key"
        assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
