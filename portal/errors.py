"""The errors a rule raises when it refuses something: shown to the person, mapped to an
HTTP status by the pages and the API. Below everything that raises them (operations, input
checks, two-factor keys), so any layer may import them.
"""

from portal.i18n import gettext


class OperationError(Exception):
    """A rule refused the change; message is shown to the person."""

    status_code = 400

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    @property
    def explanation(self) -> str:
        """What to tell the person in one line: the field messages, else the message."""
        return " ".join(self.fields.values()) or self.message


class ValidationError(OperationError):
    """Input broke a field rule; fields maps each field to its error."""

    def __init__(self, fields: dict[str, str]):
        super().__init__(gettext("Please correct the marked fields."), fields)


class PermissionDenied(OperationError):
    status_code = 403


class Conflict(OperationError):
    status_code = 409
