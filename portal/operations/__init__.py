"""Business rules as verb_noun functions: they change state, audit and queue, then flush.

The request (or command) that calls them commits once. Their errors live in portal/errors.py.
"""

from portal.errors import Conflict, OperationError, PermissionDenied, ValidationError

__all__ = ["Conflict", "OperationError", "PermissionDenied", "ValidationError"]
