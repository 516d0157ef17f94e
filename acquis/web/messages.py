"""The words of the course pages: English in the code, French in the catalogue (the default).

One flat dict of lazily translated messages: a page takes ``words(locale)`` and reads ``t.key``
in its template. To add a message, add ``"key": _l("English text")`` here and its French in
``acquis/translations/fr/LC_MESSAGES/messages.po`` (then ``python -m acquis.web.i18n compile``).
"""

from __future__ import annotations

from typing import Any

import flask_babel
from flask_babel import force_locale

from acquis.web.i18n import _l, lang_of

MESSAGES: dict[str, Any] = {
    "teacher_title": _l("Teacher area"),
    "student_title": _l("My area"),
    "activities": _l("Course activities"),
    "activity": _l("Activity"),
    "validates": _l("Validates"),
    "no_activity": _l(
        "No activity of this course has sent statements yet. You can also enter an activity's address "
        "(…/mod/…/view.php?id=…)."
    ),
    "tag": _l("Tag"),
    "tag_help": _l("Completing or passing the activity validates the chosen level."),
    "level": _l("Competency and level"),
    "trigger": _l("Condition"),
    "completion": _l("on completion"),
    "success": _l("on success"),
    "min_grade": _l("minimum grade"),
    "min_grade_value": _l("Minimum grade (0 to 1)"),
    "activity_url": _l("Activity address"),
    "jury": _l("Validations awaiting the jury"),
    "no_pending": _l("No validation is waiting."),
    "approve": _l("Approve"),
    "reject": _l("Reject"),
    "reason": _l("Reason"),
    "learner": _l("Student"),
    "competency": _l("Competency"),
    "progress": _l("Students' progress"),
    "no_learner": _l("No student has recorded activity in this course yet."),
    "reached": _l("Level reached"),
    "none": _l("—"),
    "next": _l("Next level"),
    "needs": _l("To reach it"),
    "badges": _l("My badges"),
    "no_badge": _l("No badge yet."),
    "issued": _l("issued"),
    "pending": _l("being issued"),
    "failed": _l("issuance failed"),
    "revoked": _l("revoked"),
    "verify": _l("Verify"),
    "validated": _l("validated"),
    "pending_approval": _l("awaiting the jury"),
    "rejected": _l("rejected"),
    "export": _l("Export to Europass"),
    "export_help": _l(
        "Choose what your credential contains: nothing leaves acquis without your action. Upload the "
        "file to your Europass wallet."
    ),
    "export_sealed": _l(
        "The file is sealed (the establishment's electronic seal): Europass accepts it as a verified "
        "credential."
    ),
    "export_unsealed": _l(
        "Your establishment has no seal configured: the file is not sealed; Europass accepts it as an "
        "uploaded, unverified document."
    ),
    "download": _l("Download"),
    "no_export": _l("Europass export is not enabled for your establishment."),
    "unknown_learner": _l("No activity of yours has been received yet."),
    "saved": _l("Saved."),
    "points_help": _l("Or count the activity as an action of a points programme."),
    "points_action": _l("Programme action"),
    "points_value": _l("Points (empty: the action's fixed value)"),
    "points_tag": _l("Count for points"),
    "services": _l("Moodle gradebook and participants"),
    "send_grades": _l("Send the grades to the gradebook"),
    "send_grades_help": _l(
        "One column per competency, out of its number of levels: the rank of the highest level validated "
        "in a row from the first (Novice = 1 … Expert = 5, nothing = 0)."
    ),
    "no_ags": _l(
        "Moodle offered no grade service (AGS) in this course's launches: enable it in the tool's "
        "configuration (Services)."
    ),
    "grades_sent": _l(
        "Grades sent: {sent} in {columns} column(s); {skipped} student(s) without a Moodle identifier "
        "skipped."
    ),
    "grades_failed": _l("Grades not sent"),
    "sync_roster": _l("Synchronise the participants list"),
    "no_nrps": _l(
        "Moodle offered no participants service (NRPS) in this course's launches: enable it in the "
        "tool's configuration (Services)."
    ),
    "roster_synced": _l("Participants list synchronised on"),
    "roster_never": _l("The participants list has not been synchronised yet."),
    "roster_failed": _l("Synchronising the participants list failed"),
    "roster_done": _l("Participants: {learners} student(s); {created} added, {updated} updated."),
    "moodle_error": _l(
        "Moodle's list of activities could not be read; only the activities acquis already knows are listed"
    ),
}


# lang → (the catalogue the words came from, the words): rendering ~100 lazy messages costs
# more than the rest of a course page's template, and the catalogue is the same for every page.
_WORDS: dict[str, tuple[Any, dict[str, str]]] = {}


def words(locale: str) -> dict[str, str]:
    """Every message of the course pages in the language of ``locale`` (French unless English).

    Translated once per language and catalogue (the app's loaded translations object, so
    another app or reloaded catalogue translates afresh); each caller gets its own copy.
    """
    lang = lang_of(locale)
    with force_locale(lang):
        catalogue = flask_babel.get_translations()
        cached = _WORDS.get(lang)
        if cached is None or cached[0] is not catalogue:
            cached = (catalogue, {key: str(message) for key, message in MESSAGES.items()})
            _WORDS[lang] = cached
    return dict(cached[1])
