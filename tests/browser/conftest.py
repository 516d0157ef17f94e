"""One Chromium for the browser journeys: Debian's, driven by Playwright (whose wheel ships its driver).

Playwright's own browser download is never used (it cannot be fetched here): the set-up
installs Debian's ``chromium`` with apt when it is missing (CI runs as root), and the tests FAIL
when no browser can be had. Screenshots go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"


def ensure_chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update = subprocess.run(
        ["apt-get", "update", "-q"], check=False, capture_output=True, text=True, env=env, timeout=900
    )
    install = subprocess.run(
        ["apt-get", "install", "-y", "-q", "chromium"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"could not install chromium: apt-get update said {update.stderr[-400:]!r}, "
            f"apt-get install said {install.stderr[-800:]!r}"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=ensure_chromium(), args=ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
