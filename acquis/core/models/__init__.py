"""All models, importable from one place (Alembic's autogenerate reads ``Base.metadata`` here)."""

from acquis.core.models.activities import TRIGGERS, Activity, ValidationRule, rule_activity
from acquis.core.models.badges import AWARD_STATUSES, Award, BadgeClass
from acquis.core.models.base import Base, utcnow
from acquis.core.models.frameworks import DEFAULT_SCALE, Block, Competency, Framework, Level
from acquis.core.models.learners import Learner, LearnerIdentifier
from acquis.core.models.outbox import OutboxMessage
from acquis.core.models.records import (
    COMPLETION_STATES,
    VALIDATION_STATUSES,
    Completion,
    Validation,
)
from acquis.core.models.tenancy import (
    AdapterConfig,
    Establishment,
    IngestCredential,
    LtiDeployment,
    LtiPlatform,
)

__all__ = [
    "AWARD_STATUSES",
    "COMPLETION_STATES",
    "DEFAULT_SCALE",
    "TRIGGERS",
    "VALIDATION_STATUSES",
    "Activity",
    "AdapterConfig",
    "Award",
    "BadgeClass",
    "Base",
    "Block",
    "Competency",
    "Completion",
    "Establishment",
    "Framework",
    "IngestCredential",
    "Learner",
    "LearnerIdentifier",
    "Level",
    "LtiDeployment",
    "LtiPlatform",
    "OutboxMessage",
    "Validation",
    "ValidationRule",
    "rule_activity",
    "utcnow",
]
