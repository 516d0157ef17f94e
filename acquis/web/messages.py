"""The words of the course pages, in French (the default) and English (from the launch locale)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "teacher_title": "Espace enseignant",
        "student_title": "Mon espace",
        "activities": "Activités du cours",
        "activity": "Activité",
        "validates": "Valide",
        "no_activity": "Aucune activité de ce cours n'a encore envoyé de traces. Vous pouvez aussi "
        "saisir l'adresse d'une activité (…/mod/…/view.php?id=…).",
        "tag": "Associer",
        "tag_help": "Une activité réussie ou terminée valide le niveau choisi.",
        "level": "Compétence et niveau",
        "trigger": "Condition",
        "completion": "à l'achèvement",
        "success": "en cas de réussite",
        "min_grade": "note minimale",
        "min_grade_value": "Note minimale (0 à 1)",
        "activity_url": "Adresse de l'activité",
        "jury": "Validations en attente du jury",
        "no_pending": "Aucune validation en attente.",
        "approve": "Approuver",
        "reject": "Refuser",
        "reason": "Motif",
        "learner": "Étudiant",
        "competency": "Compétence",
        "progress": "Progression des étudiants",
        "no_learner": "Aucun étudiant n'a encore d'activité enregistrée dans ce cours.",
        "reached": "Niveau atteint",
        "none": "—",
        "next": "Prochain niveau",
        "needs": "Pour l'atteindre",
        "badges": "Mes badges",
        "no_badge": "Pas encore de badge.",
        "issued": "délivré",
        "pending": "en cours de délivrance",
        "failed": "en échec de délivrance",
        "revoked": "révoqué",
        "verify": "Vérifier",
        "validated": "validé",
        "pending_approval": "en attente du jury",
        "rejected": "refusé",
        "export": "Exporter vers Europass",
        "export_help": "Choisissez ce que contient votre attestation : rien ne quitte acquis sans votre "
        "action. Le fichier se dépose dans votre portefeuille Europass.",
        "export_sealed": "Le fichier est scellé (signature électronique de l'établissement) : Europass "
        "l'accepte comme attestation vérifiée.",
        "export_unsealed": "L'établissement n'a pas configuré de cachet : le fichier n'est pas scellé ; "
        "Europass l'accepte comme document déposé, non vérifié.",
        "download": "Télécharger",
        "no_export": "L'export Europass n'est pas activé pour votre établissement.",
        "unknown_learner": "Aucune activité de votre part n'a encore été reçue.",
        "saved": "Enregistré.",
        "services": "Carnet de notes et participants Moodle",
        "send_grades": "Envoyer les notes au carnet de notes",
        "send_grades_help": "Une colonne par compétence, notée sur son nombre de niveaux : le rang du plus "
        "haut niveau validé à la suite depuis le premier (Novice = 1 … Expert = 5, rien = 0).",
        "no_ags": "Moodle n'a pas proposé le service de notes (AGS) lors des lancements de ce cours : "
        "activez-le dans la configuration de l'outil (Services).",
        "grades_sent": "Notes envoyées : {sent} dans {columns} colonne(s) ; {skipped} étudiant(s) sans "
        "identifiant Moodle ignoré(s).",
        "grades_failed": "Notes non envoyées",
        "sync_roster": "Synchroniser la liste des participants",
        "no_nrps": "Moodle n'a pas proposé le service de liste des participants (NRPS) lors des lancements "
        "de ce cours : activez-le dans la configuration de l'outil (Services).",
        "roster_synced": "Liste des participants synchronisée le",
        "roster_never": "La liste des participants n'a pas encore été synchronisée.",
        "roster_failed": "Synchronisation de la liste des participants en échec",
        "roster_done": "Participants : {learners} étudiant(s) ; {created} ajouté(s), {updated} mis à jour.",
        "moodle_error": "La liste des activités de Moodle n'a pas pu être lue ; seules les activités déjà "
        "connues d'acquis sont listées",
    },
    "en": {
        "teacher_title": "Teacher area",
        "student_title": "My area",
        "activities": "Course activities",
        "activity": "Activity",
        "validates": "Validates",
        "no_activity": "No activity of this course has sent statements yet. You can also enter an "
        "activity's address (…/mod/…/view.php?id=…).",
        "tag": "Tag",
        "tag_help": "Completing or passing the activity validates the chosen level.",
        "level": "Competency and level",
        "trigger": "Condition",
        "completion": "on completion",
        "success": "on success",
        "min_grade": "minimum grade",
        "min_grade_value": "Minimum grade (0 to 1)",
        "activity_url": "Activity address",
        "jury": "Validations awaiting the jury",
        "no_pending": "No validation is waiting.",
        "approve": "Approve",
        "reject": "Reject",
        "reason": "Reason",
        "learner": "Student",
        "competency": "Competency",
        "progress": "Students' progress",
        "no_learner": "No student has recorded activity in this course yet.",
        "reached": "Level reached",
        "none": "—",
        "next": "Next level",
        "needs": "To reach it",
        "badges": "My badges",
        "no_badge": "No badge yet.",
        "issued": "issued",
        "pending": "being issued",
        "failed": "issuance failed",
        "revoked": "revoked",
        "verify": "Verify",
        "validated": "validated",
        "pending_approval": "awaiting the jury",
        "rejected": "rejected",
        "export": "Export to Europass",
        "export_help": "Choose what your credential contains: nothing leaves acquis without your action. "
        "Upload the file to your Europass wallet.",
        "export_sealed": "The file is sealed (the establishment's electronic seal): Europass accepts it "
        "as a verified credential.",
        "export_unsealed": "Your establishment has no seal configured: the file is not sealed; Europass "
        "accepts it as an uploaded, unverified document.",
        "download": "Download",
        "no_export": "Europass export is not enabled for your establishment.",
        "unknown_learner": "No activity of yours has been received yet.",
        "saved": "Saved.",
        "services": "Moodle gradebook and participants",
        "send_grades": "Send the grades to the gradebook",
        "send_grades_help": "One column per competency, out of its number of levels: the rank of the "
        "highest level validated in a row from the first (Novice = 1 … Expert = 5, nothing = 0).",
        "no_ags": "Moodle offered no grade service (AGS) in this course's launches: enable it in the "
        "tool's configuration (Services).",
        "grades_sent": "Grades sent: {sent} in {columns} column(s); {skipped} student(s) without a Moodle "
        "identifier skipped.",
        "grades_failed": "Grades not sent",
        "sync_roster": "Synchronise the participants list",
        "no_nrps": "Moodle offered no participants service (NRPS) in this course's launches: enable it "
        "in the tool's configuration (Services).",
        "roster_synced": "Participants list synchronised on",
        "roster_never": "The participants list has not been synchronised yet.",
        "roster_failed": "Synchronising the participants list failed",
        "roster_done": "Participants: {learners} student(s); {created} added, {updated} updated.",
        "moodle_error": "Moodle's list of activities could not be read; only the activities acquis "
        "already knows are listed",
    },
}


def words(locale: str) -> dict[str, str]:
    return MESSAGES["en" if locale.lower().startswith("en") else "fr"]
