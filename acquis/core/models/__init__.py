"""All models, importable from one place (Alembic's autogenerate reads ``Base.metadata`` here)."""

from acquis.core.models.activities import TRIGGERS, Activity, ValidationRule, rule_activity
from acquis.core.models.admins import AdminUser
from acquis.core.models.badges import AWARD_STATUSES, Award, BadgeClass
from acquis.core.models.base import Base, new_uuid, new_uuids, utcnow
from acquis.core.models.certifications import CERTIFICATION_OUTCOMES, CertificationResult, CompetencyRating
from acquis.core.models.frameworks import DEFAULT_SCALE, Block, Competency, Framework, Level
from acquis.core.models.learners import ErasedIdentifier, Learner, LearnerIdentifier
from acquis.core.models.lti_courses import LtiCourse
from acquis.core.models.lti_keys import LTI_KEY_STATUSES, LtiLaunchData, LtiToolKey
from acquis.core.models.outbox import OutboxMessage
from acquis.core.models.partners import ATTESTATION_STATUSES, Attestation, Partner, partner_competency
from acquis.core.models.programmes import (
    DECISION_KINDS,
    EARNED_STATUSES,
    ActionTag,
    EarnedPoints,
    PointsGrant,
    Programme,
    ProgrammeAction,
    ProgrammePeriod,
    SemesterDecision,
)
from acquis.core.models.records import (
    COMPLETION_STATES,
    VALIDATION_STATUSES,
    Completion,
    Validation,
    ValidationEvent,
    dedupe_key,
)
from acquis.core.models.stamps import CATALOGUE_TABLES, CatalogueStamp
from acquis.core.models.tenancy import (
    AdapterConfig,
    Establishment,
    IngestCredential,
    IngestWindow,
    LtiDeployment,
    LtiPlatform,
)

__all__ = [
    "ATTESTATION_STATUSES",
    "AWARD_STATUSES",
    "CATALOGUE_TABLES",
    "CERTIFICATION_OUTCOMES",
    "COMPLETION_STATES",
    "DECISION_KINDS",
    "DEFAULT_SCALE",
    "EARNED_STATUSES",
    "LTI_KEY_STATUSES",
    "TRIGGERS",
    "VALIDATION_STATUSES",
    "ActionTag",
    "Activity",
    "AdapterConfig",
    "AdminUser",
    "Attestation",
    "Award",
    "BadgeClass",
    "Base",
    "Block",
    "CatalogueStamp",
    "CertificationResult",
    "Competency",
    "CompetencyRating",
    "Completion",
    "EarnedPoints",
    "ErasedIdentifier",
    "Establishment",
    "Framework",
    "IngestCredential",
    "IngestWindow",
    "Learner",
    "LearnerIdentifier",
    "Level",
    "LtiCourse",
    "LtiDeployment",
    "LtiLaunchData",
    "LtiPlatform",
    "LtiToolKey",
    "OutboxMessage",
    "Partner",
    "PointsGrant",
    "Programme",
    "ProgrammeAction",
    "ProgrammePeriod",
    "SemesterDecision",
    "Validation",
    "ValidationEvent",
    "ValidationRule",
    "dedupe_key",
    "new_uuid",
    "new_uuids",
    "partner_competency",
    "rule_activity",
    "utcnow",
]
