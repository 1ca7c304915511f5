"""The API's one error shape (SPEC section 6): {"error": {"code", "message", "fields"}}."""

from flask import jsonify

from portal.operations import OperationError

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}


class Unauthenticated(OperationError):
    """No token, or one that is unknown or revoked."""

    status_code = 401


def api_error(status: int, message: str, fields: dict[str, str] | None = None,
              code: str | None = None):  # fmt: skip
    code = code or ("invalid" if status == 400 and fields else CODES.get(status, "error"))
    response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
