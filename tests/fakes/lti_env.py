"""Fixtures for LTI tests: the tool served over HTTP, one or two fake platforms registered for
establishments, and a browser. Import the fixture names into a test module to use them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from acquis.core import establishments
from acquis.core.models import LtiDeployment, LtiPlatform
from acquis.core.runtime import Runtime
from acquis.lti.storage import DbLaunchDataStorage
from acquis.web.app import create_app
from tests import live
from tests.fakes.lti_platform import Browser, FakePlatform


@dataclass
class LtiEnv:
    runtime: Runtime
    tool_url: str
    platform: FakePlatform  # registered for establishment "lycee-a"
    other: FakePlatform  # registered for establishment "lycee-b"

    def stored_keys(self) -> set[str]:
        return set(DbLaunchDataStorage(self.runtime.db).keys())


def register(rt: Runtime, slug: str, platform: FakePlatform) -> None:
    with rt.db.session() as session:
        try:
            est = establishments.get(session, slug)
        except Exception:
            est, _ = establishments.create(session, slug, f"Établissement {slug}")
        session.add(
            LtiPlatform(
                establishment_id=est.id,
                issuer=platform.issuer,
                client_id=platform.client_id,
                auth_login_url=platform.auth_login_url,
                auth_token_url=platform.token_url,
                jwks_url=platform.jwks_url,
                deployments=[LtiDeployment(deployment_id=platform.deployment_id)],
            )
        )


@pytest.fixture
def lti_env(runtime: Runtime) -> Iterator[LtiEnv]:
    app = create_app(runtime)
    platform, other = FakePlatform(), FakePlatform(client_id="other-client", deployment_id="dep-b")
    with live.serve(app) as tool_url, live.serve(platform.app) as p_url, live.serve(other.app) as o_url:
        for fake, url in ((platform, p_url), (other, o_url)):
            fake.base_url, fake.tool_url = url, tool_url
        register(runtime, "lycee-a", platform)
        register(runtime, "lycee-b", other)
        yield LtiEnv(runtime, tool_url, platform, other)


@pytest.fixture
def browser() -> Browser:
    return Browser()
