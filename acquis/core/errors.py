"""Errors the core raises on purpose; each carries a message meant for the person who can fix it."""


class AcquisError(Exception):
    """Base class: the message is shown to users as is, so it must say what to do."""


class ConfigurationError(AcquisError):
    """The environment or instance folder is not usable."""


class NotFound(AcquisError):
    """A named object (establishment, adapter, platform…) does not exist."""


class InvalidInput(AcquisError):
    """Input failed validation; ``field`` names the offending part when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class Conflict(AcquisError):
    """The request would duplicate something that must stay unique."""


class DeliveryError(AcquisError):
    """Raised by an adapter while delivering; subclasses say whether to retry."""


class TransientDeliveryError(DeliveryError):
    """The remote side failed in a way that a later attempt may fix (5xx, connection refused)."""


class OutcomeUnknownError(DeliveryError):
    """The remote side may have acted (timeout after sending): reconcile before retrying."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (4xx, bad settings): park the message for an admin."""
