"""What every failure answers, for the whole app: a clear page, or the API's JSON under /api/,
never a stack trace. Above both audiences, so the pages and the API need nothing of each other."""

import logging

from flask import g, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.api.errors import api_error
from portal.database import discard
from portal.extensions import login_manager
from portal.i18n import english
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.operations import OperationError
from portal.settings import default_settings

log = logging.getLogger("portal.views.errors")  # its name before it moved here: logs keep it
RETRY_AFTER_SECONDS = 5

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Go back and try again.")),
    401: (_l("Token needed"), _l("Send an API token: Authorization: Bearer <token>.")),
    403: (_l("Not allowed"), _l("You do not have permission to do that.")),
    404: (_l("Not found"), _l("There is nothing at this address. It may have been removed.")),
    405: (_l("Not allowed"), _l("That action is not available here.")),
    409: (_l("Not possible"), _l("That change is not possible right now.")),
    413: (_l("Too large"), _l("What you sent is larger than 1 MB. Shorten it and try again.")),
    429: (
        _l("Slow down"),
        _l("You have done that many times just now. Wait a moment and try again."),
    ),
    500: (_l("Something went wrong"), _l("We could not finish that. Nothing you sent was lost.")),
    503: (
        _l("Unavailable"),
        _l("The service is briefly unavailable. Try again in a few seconds."),
    ),
}


def error_page(code: int, message: str | None = None, fields: dict | None = None):
    title, default = MESSAGES.get(code, MESSAGES[500] if code >= 500 else MESSAGES[400])
    if request.path.startswith("/api/"):
        return api_error(code, english(message or default), fields)  # also unknown /api/ paths
    # str(): a lazy text counts as markup, and "<token>" must be escaped as plain text.
    body = str(message or default)
    return render_template("error.html", code=code, title=str(title), message=body), code


def register(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_page(
            400, _("The form expired or came from another site. Reload and try again.")
        )

    # A view's own failures are rolled back by its transaction boundary (portal/database.py)
    # before these run; discard() below is for what fails before or after a view.
    @app.errorhandler(OperationError)
    def operation_error(error):
        return error_page(error.status_code, error.message, error.fields)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return error_page(error.code or 500)

    @app.errorhandler(DBAPIError)
    def database_error(error):
        """The database is down, restarting or locked: say so and when to try again.

        The pool pings connections before use (pool_pre_ping), so the next request after
        the database is back works without restarting anything. Other database errors
        are bugs: a 500, logged.
        """
        lost = isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated
        if not lost:
            return internal_error(InternalServerError(original_exception=error))
        discard()
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    error.__class__.__name__)  # fmt: skip
        # The page must not ask the database again: default settings, no signed-in header.
        g.site_settings = default_settings()
        g._login_user = login_manager.anonymous_user()
        response = make_response(error_page(503))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(InternalServerError)
    def internal_error(error):
        discard()
        log.error("unhandled error on %s %s", request.method, request.path,
                  exc_info=error.original_exception)  # fmt: skip
        return error_page(500)
