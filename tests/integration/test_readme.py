"""The README's five-minute tour, run as written against a real `acquis serve`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import REPO
from tests.integration.test_serve import _free_port


def _tour() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- tour:start -->\s*```bash\n(.*?)```\s*<!-- tour:end -->", readme, re.S)
    assert block, "the README has lost its tour block"
    return block.group(1)


def test_readme_opens_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.S)[:2]
    assert commands[0].endswith("acquis serve") and "pip install -e ." in commands[0]
    assert commands[1] == "bash .ci/run"  # CI runs exactly the README's test command
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/pip install --quiet -e '.[test]'" in ci and ci.rstrip().endswith(".venv/bin/pytest")


def test_readme_tour_runs_as_written(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACQUIS_")}
    env["ACQUIS_INSTANCE_PATH"] = str(tmp_path / "instance")
    env["ACQUIS_PUBLIC_URL"] = base
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    server = subprocess.Popen(
        [sys.executable, "-m", "acquis", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        script = _tour().replace("BASE=http://127.0.0.1:8000", f"BASE={base}")
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            check=False,  # the return code is asserted below, with the output
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert '"type":"Assertion"' in done.stdout.replace(" ", "")
        assert "issued\t" in done.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
