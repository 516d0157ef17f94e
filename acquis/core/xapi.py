"""xAPI statements → completion facts.

Accepts what Moodle's logstore_xapi sends (a JSON array, actor ``account{homePage, name}``,
object id ``<wwwroot>/mod/<mod>/view.php?id=<cmid>``, no statement id) and any conformant LRS
client. Every statement of a batch is checked before anything is stored, and an error names
the field, e.g. ``statements[2].actor.account.name``.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple, TypeGuard

import orjson

from acquis.core.errors import InvalidInput

VERB_COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VERB_PASSED = "http://adlnet.gov/expapi/verbs/passed"
VERB_FAILED = "http://adlnet.gov/expapi/verbs/failed"
VERB_UNCOMPLETED = "https://xapi.edlm/profiles/edlm-lms/concepts/verbs/uncompleted"
COMPLETION_VERBS = {VERB_COMPLETED, VERB_PASSED, VERB_FAILED, VERB_UNCOMPLETED}

COURSE_TYPES = {
    "https://w3id.org/xapi/cmi5/activitytype/course",
    "http://adlnet.gov/expapi/activities/course",
}
# Used with fullmatch: with match, "$" would also accept a trailing newline.
_IRI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
MAX_BATCH = 1000
# Lengths of the columns the parsed values end up in (learner_identifier, learner, activity).
_IDENTIFIER_MAX = 255
_ACTIVITY_TYPE_MAX = 255
_COURSE_REF_MAX = 1024
_LRS_KEYS = ("id", "stored", "authority", "version")  # what an LRS may add: not hashed


class CompletionFact(NamedTuple):
    """One completion statement, reduced to what the pipeline needs.

    A named tuple rather than a frozen dataclass: as immutable, and built several times faster,
    which counts at one fact per ingested statement.
    """

    statement_id: str  # the sender's id, or one derived from the content (stable across resends)
    source_id: str | None  # the sender's id only
    content_hash: str
    identifier_system: str
    identifier_value: str
    learner_name: str
    learner_email: str | None
    activity_id: str
    activity_name: str
    activity_type: str | None
    course_ref: str | None
    state: str  # completed, passed, failed, incomplete
    grade: float | None
    occurred_at: datetime


_new_fact = tuple.__new__


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("must be a JSON object", field=where)
    return value


def _str(value: Any, where: str, max_len: int = 1024) -> str:
    # "not value or value.isspace()" is "not value.strip()" without building a copy.
    if not isinstance(value, str) or not value or value.isspace():
        raise InvalidInput("must be a non-empty string", field=where)
    if len(value) > max_len:
        raise InvalidInput(f"longer than {max_len} characters", field=where)
    return value


def _iri(value: Any, where: str, max_len: int = 1024) -> str:
    text = _str(value, where, max_len)
    if not is_iri(text, max_len):
        raise InvalidInput(
            "must be an IRI (e.g. https://moodle.example.fr/mod/quiz/view.php?id=3)", field=where
        )
    return text


def is_iri(text: str, max_len: int = 1024) -> bool:
    """Whether ``text`` would be accepted as an activity id (so a tag on it can ever match)."""
    return len(text) <= max_len and _iri_shaped(text)


@lru_cache(maxsize=4096)
def _iri_shaped(text: str) -> bool:
    """The IRI pattern, remembered: a batch repeats the same few IRIs (the sender's home page,
    its verbs, the activities of a course) in every statement, and looking one up costs a
    fifth of matching it. Bounded, so that a sender of ever-new IRIs only churns the cache."""
    return _IRI_RE.fullmatch(text) is not None


def _lang_map_first(value: Any) -> str:
    if isinstance(value, dict):
        for preferred in ("fr", "fr-FR", "en", "en-US"):
            if isinstance(found := value.get(preferred), str):
                return str(found)
        for v in value.values():
            if isinstance(v, str):
                return v
    return ""


def _utc_instant(text: str) -> datetime | str:
    """The instant ``text`` names, in UTC, or why it names none (said of the field)."""
    try:
        parsed = datetime.fromisoformat(text)  # "Z" for UTC included, since Python 3.11
    except ValueError:
        return "must be an ISO 8601 timestamp"
    if parsed.tzinfo is None:
        return "must carry a timezone (e.g. 2026-01-31T10:00:00Z)"
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 falls before year 1 in UTC
        return "is out of the range of dates"


def _timestamp(value: Any, where: str) -> datetime:
    instant = _utc_instant(_str(value, where, 64))
    if isinstance(instant, str):
        raise InvalidInput(instant, field=where)
    return instant


def _actor(actor: dict[str, Any], where: str) -> tuple[str, str, str | None]:
    if actor.get("objectType", "Agent") != "Agent":
        raise InvalidInput(
            "only an Agent (one learner) can complete an activity", field=f"{where}.objectType"
        )
    if "account" in actor:
        account = _obj(actor["account"], f"{where}.account")
        # The system "xapi:<homePage>" must fit the identifier column.
        home = _iri(
            account.get("homePage"), f"{where}.account.homePage", _IDENTIFIER_MAX - len("xapi:")
        ).rstrip("/")
        name = _str(account.get("name"), f"{where}.account.name", _IDENTIFIER_MAX)
        return f"xapi:{home}", name, None
    if "mbox" in actor:
        mbox = _str(actor["mbox"], f"{where}.mbox", 320)
        if not mbox.startswith("mailto:") or "@" not in mbox:
            raise InvalidInput("must be mailto:address", field=f"{where}.mbox")
        email = mbox[len("mailto:") :].strip().lower()
        if len(email) > _IDENTIFIER_MAX:
            raise InvalidInput(f"address longer than {_IDENTIFIER_MAX} characters", field=f"{where}.mbox")
        return "email", email, email
    if "mbox_sha1sum" in actor:
        digest = _str(actor["mbox_sha1sum"], f"{where}.mbox_sha1sum", 40)
        if not re.fullmatch(r"[0-9a-f]{40}", digest):
            raise InvalidInput("must be 40 lowercase hex digits", field=f"{where}.mbox_sha1sum")
        return "mbox_sha1sum", digest, None
    if "openid" in actor:
        return "openid", _iri(actor["openid"], f"{where}.openid", _IDENTIFIER_MAX), None
    raise InvalidInput("needs an identifier: account, mbox, mbox_sha1sum or openid", field=where)


def _grade(result: dict[str, Any], where: str) -> float | None:
    score = result.get("score")
    if score is None:
        return None
    score = _obj(score, f"{where}.score")
    if "scaled" in score:
        scaled = score["scaled"]
        if not isinstance(scaled, int | float) or isinstance(scaled, bool) or not -1 <= scaled <= 1:
            raise InvalidInput("must be a number from -1 to 1", field=f"{where}.score.scaled")
        return float(scaled)
    numbers: dict[str, float] = {}
    for key in ("raw", "min", "max"):
        v = score.get(key)
        if v is None:
            continue
        # Checked even when no grade can be computed (raw without max): a malformed score is
        # an error either way. NaN/Infinity (accepted by json.loads) and integers too large for
        # a float would otherwise make a NaN grade or an OverflowError.
        try:
            number = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan
        except OverflowError:
            number = math.nan
        if not math.isfinite(number):
            raise InvalidInput("must be a finite number", field=f"{where}.score.{key}")
        numbers[key] = number
    raw, lo, hi = numbers.get("raw"), numbers.get("min", 0.0), numbers.get("max")
    if raw is None or hi is None:
        return None
    if hi <= lo or not lo <= raw <= hi or not math.isfinite(hi - lo):
        raise InvalidInput("needs min <= raw <= max and min < max", field=f"{where}.score")
    return (raw - lo) / (hi - lo)


def _surrogate_path(value: Any, where: str) -> str | None:
    """The path of the first text holding a lone surrogate, None when there is none."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return where
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _surrogate_path(key, where) or _surrogate_path(item, f"{where}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _surrogate_path(item, f"{where}[{i}]")
            if found:
                return found
    return None


def content_hash(statement: dict[str, Any]) -> str:
    """A hash of what the statement says, ignoring what an LRS adds (id, stored, authority)."""
    core = statement
    if "id" in core or "stored" in core or "authority" in core or "version" in core:
        core = {k: v for k, v in statement.items() if k not in _LRS_KEYS}
    try:
        canonical = orjson.dumps(core, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits: the slower encoder copes with them
        canonical = json.dumps(core, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def parse_statement(statement: Any, where: str, received_at: datetime) -> CompletionFact | None:
    """The completion fact in ``statement``, None when it is a valid statement of another kind."""
    fact = _fast_statement(statement, received_at)
    if not isinstance(fact, _Unsure):
        return fact
    return _checked_statement(statement, where, received_at)


def _checked_statement(statement: Any, where: str, received_at: datetime) -> CompletionFact | None:
    """``parse_statement`` field by field: every check, and the exact field of the first failure."""
    st = _obj(statement, where)
    # First, so that statements of any kind are checked: the web layer hashes them all.
    try:
        digest = content_hash(st)
    except UnicodeEncodeError:
        # json.loads lets lone surrogates through ("\ud800"); they can be neither hashed nor stored.
        path = _surrogate_path(st, where) or where
        raise InvalidInput("contains a lone surrogate, which is not valid Unicode text", field=path) from None
    source_id: str | None = None
    if "id" in st:
        raw_id = _str(st["id"], f"{where}.id", 64)
        try:
            source_id = str(uuid.UUID(raw_id))
        except ValueError:
            raise InvalidInput("must be a UUID", field=f"{where}.id") from None
    actor = _obj(st.get("actor"), f"{where}.actor")
    system, value, email = _actor(actor, f"{where}.actor")
    verb = _obj(st.get("verb"), f"{where}.verb")
    verb_id = _iri(verb.get("id"), f"{where}.verb.id")
    obj = _obj(st.get("object"), f"{where}.object")
    if obj.get("objectType", "Activity") != "Activity":
        if verb_id in COMPLETION_VERBS:
            raise InvalidInput("a completion must be about an Activity", field=f"{where}.object.objectType")
        return None
    activity_id = _iri(obj.get("id"), f"{where}.object.id")
    result = _obj(st.get("result", {}), f"{where}.result")
    success = result.get("success")
    if success is not None and not isinstance(success, bool):
        raise InvalidInput("must be true or false", field=f"{where}.result.success")
    grade = _grade(result, f"{where}.result")
    occurred = _timestamp(st["timestamp"], f"{where}.timestamp") if "timestamp" in st else received_at
    context = _obj(st.get("context", {}), f"{where}.context")
    if verb_id not in COMPLETION_VERBS:
        return None
    identifier = (system, value, email)
    return _fact(
        actor, obj, context, digest, source_id, identifier, activity_id, verb_id, success, grade, occurred
    )


def _fact(
    actor: dict[str, Any],
    obj: dict[str, Any],
    context: dict[str, Any],
    digest: str,
    source_id: str | None,
    identifier: tuple[str, str, str | None],
    activity_id: str,
    verb_id: str,
    success: bool | None,
    grade: float | None,
    occurred: datetime,
) -> CompletionFact:
    """The fact of a completion statement whose fields were all checked (by either path)."""
    if verb_id == VERB_UNCOMPLETED:
        state = "incomplete"
    elif verb_id == VERB_PASSED:
        state = "passed"
    elif verb_id == VERB_FAILED:
        state = "failed"
    elif success is True:
        state = "passed"
    elif success is False:
        state = "failed"  # "completed" with success = false is a fail, not a completion
    else:
        state = "completed"

    definition = obj.get("definition")
    if not isinstance(definition, dict):
        definition = {}
    activity_type = definition.get("type")
    if not isinstance(activity_type, str) or len(activity_type) > _ACTIVITY_TYPE_MAX:
        activity_type = None
    course_ref = None
    activities = context.get("contextActivities")
    parents = activities.get("parent") if isinstance(activities, dict) else None
    if isinstance(parents, list):
        for parent in parents:
            # Context is not validated field by field, so anything may be found here.
            parent_def = parent.get("definition") if isinstance(parent, dict) else None
            parent_type = parent_def.get("type") if isinstance(parent_def, dict) else None
            if isinstance(parent_type, str) and parent_type in COURSE_TYPES:
                ref = parent.get("id")
                course_ref = ref if isinstance(ref, str) and len(ref) <= _COURSE_REF_MAX else None
    # str(uuid.UUID(digest[:32])), spelt out: the digest is already lowercase hex.
    statement_id = source_id or (
        f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    )
    name = actor.get("name")
    system, value, email = identifier
    # tuple.__new__ with the values in field order is what the named tuple's own __new__
    # does, less a Python frame per statement.
    return _new_fact(
        CompletionFact,
        (
            statement_id,
            source_id,
            digest,
            system,
            value,
            (_lang_map_first(name) if isinstance(name, dict) else str(name or ""))[:255],
            email,
            activity_id,
            _lang_map_first(definition.get("name"))[:512],
            activity_type,
            course_ref,
            state,
            grade,
            occurred,
        ),
    )


class _Unsure(enum.Enum):
    """What the fast path answers when a statement is not of the common, well-formed shape."""

    UNSURE = 0


_UNSURE = _Unsure.UNSURE
_CANONICAL_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EMPTY: dict[str, Any] = {}


def _good_text(value: Any, max_len: int) -> TypeGuard[str]:
    """What ``_str`` accepts, as a test: exact str, not empty or blank, within ``max_len``."""
    return type(value) is str and 0 < len(value) <= max_len and not value.isspace()


def _good_iri(value: Any, max_len: int) -> TypeGuard[str]:
    """What ``_iri`` accepts, as a test (``_good_text`` and ``is_iri``, spelt out: three a statement)."""
    return type(value) is str and 0 < len(value) <= max_len and not value.isspace() and _iri_shaped(value)


def _fast_statement(statement: Any, received_at: datetime) -> CompletionFact | _Unsure | None:
    """``parse_statement`` for the statements senders actually send, or ``_UNSURE``.

    Moodle's logstore_xapi statements (account actor, activity object, scaled score, UTC
    timestamp) pass the same checks as in ``_checked_statement`` here, without building a field
    path for every check. Anything else — a failed check, an mbox actor, a raw score — answers
    ``_UNSURE``, and the checked path decides and names the field: this path only ever accepts
    what that one accepts, with the same fact (a property test holds both to it).
    """
    if type(statement) is not dict:
        return _UNSURE
    try:
        digest = content_hash(statement)
    except (UnicodeEncodeError, TypeError, ValueError):
        return _UNSURE
    source_id = statement.get("id")
    if (source_id is not None or "id" in statement) and (
        type(source_id) is not str or _CANONICAL_UUID_RE.fullmatch(source_id) is None
    ):
        return _UNSURE  # str(uuid.UUID(x)) is x itself for exactly these
    actor = statement.get("actor")
    if type(actor) is not dict or actor.get("objectType", "Agent") != "Agent":
        return _UNSURE
    account = actor.get("account")
    if type(account) is not dict:
        return _UNSURE
    home, name = account.get("homePage"), account.get("name")
    if not (_good_iri(home, _IDENTIFIER_MAX - len("xapi:")) and _good_text(name, _IDENTIFIER_MAX)):
        return _UNSURE
    verb = statement.get("verb")
    if type(verb) is not dict:
        return _UNSURE
    verb_id = verb.get("id")
    obj = statement.get("object")
    if not (_good_iri(verb_id, 1024) and type(obj) is dict):
        return _UNSURE
    object_id = obj.get("id")
    if obj.get("objectType", "Activity") != "Activity" or not _good_iri(object_id, 1024):
        return _UNSURE
    result = statement.get("result", _EMPTY)
    if type(result) is not dict:
        return _UNSURE
    success = result.get("success")
    if success is not None and type(success) is not bool:
        return _UNSURE
    score = result.get("score")
    grade: float | None = None
    if score is not None:
        scaled = score.get("scaled") if type(score) is dict else None
        if type(scaled) not in (int, float) or not -1 <= scaled <= 1:  # type: ignore[operator]
            return _UNSURE
        grade = float(scaled)  # type: ignore[arg-type]
    occurred = received_at
    if "timestamp" in statement:
        stamp = statement["timestamp"]
        instant = _utc_instant(stamp) if _good_text(stamp, 64) else "unsure"
        if isinstance(instant, str):
            return _UNSURE
        occurred = instant
    context = statement.get("context", _EMPTY)
    if type(context) is not dict:
        return _UNSURE
    if verb_id not in COMPLETION_VERBS:
        return None
    identifier = (f"xapi:{home.rstrip('/')}", name, None)
    return _fact(
        actor, obj, context, digest, source_id, identifier, object_id, verb_id, success, grade, occurred
    )


def parse_batch(body: Any, received_at: datetime) -> list[CompletionFact | None]:
    """A statement or an array of statements, all checked before any is used."""
    if isinstance(body, dict):
        statements: list[Any] = [body]
        prefix = "statement"
        return [parse_statement(statements[0], prefix, received_at)]
    if not isinstance(body, list):
        raise InvalidInput("the body must be a statement or an array of statements", field="body")
    if not body:
        raise InvalidInput("the array of statements is empty", field="body")
    if len(body) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} statements per request", field="body")
    # The fast path first, for every statement: the field path is spelt out only for those it
    # is unsure of (a thousand f-strings per batch, otherwise, that nothing reads).
    facts = [_fast_statement(s, received_at) for s in body]
    return [
        _checked_statement(body[i], f"statements[{i}]", received_at) if isinstance(fact, _Unsure) else fact
        for i, fact in enumerate(facts)
    ]
