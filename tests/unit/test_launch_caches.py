"""What a launch keeps between requests follows what it was built from.

The session cookie's serializer is kept per tuple of configured keys: a rotation must still
accept cookies signed with the older key and a retired key must stop signing in at once. The
course pages' words are kept per language: each language keeps its own words and a caller
changing its copy changes nobody else's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from flask import Flask

from acquis.core import crypto
from acquis.lti import session as lti_session
from acquis.web import i18n
from acquis.web.messages import words

SESSION = lti_session.LtiSession(
    establishment_id=1,
    establishment_slug="univ",
    platform_id=2,
    deployment_id="dep-1",
    context_id="42",
    context_title="Course",
    user_sub="7",
    user_name="Ada",
    role="student",
    locale="fr",
)


@pytest.fixture
def keys() -> Iterator[None]:
    before = crypto.configured_keys()
    try:
        yield
    finally:
        crypto.configure(before)


def test_session_cookies_follow_key_rotation_and_retirement(keys: None) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    crypto.configure((old,))
    signed_with_old = lti_session.dumps(SESSION)
    assert lti_session.loads(signed_with_old) == SESSION
    crypto.configure((new, old))  # rotation: newest first
    assert lti_session.loads(signed_with_old) == SESSION
    signed_with_new = lti_session.dumps(SESSION)
    crypto.configure((old,))
    assert lti_session.loads(signed_with_new) is None  # the old key alone never signed it
    crypto.configure((new,))  # the old key retired
    assert lti_session.loads(signed_with_old) is None
    assert lti_session.loads(signed_with_new) == SESSION


def test_words_are_per_language_and_each_caller_gets_its_own_copy() -> None:
    app = Flask(__name__)
    i18n.init_app(app)
    with app.test_request_context():
        french, english = words("fr-FR"), words("en-GB")
        assert french["student_title"] == "Mon espace" and english["student_title"] == "My area"
        french["student_title"] = "changed"
        assert words("fr")["student_title"] == "Mon espace"
        assert words("en")["student_title"] == "My area"
