"""The logo and favicon admins uploaded, served under their content's hash so browsers keep
them for a year; a changed image gets a new address, and the old one answers 404."""

from flask import Blueprint, abort, current_app, request

from portal.operations.branding import brand_image

bp = Blueprint("brand", __name__)

YEAR = 365 * 24 * 60 * 60


@bp.get("/brand/<kind>-<digest>.<extension>")
def image(kind: str, digest: str, extension: str):
    found = brand_image(kind, digest, extension)
    if found is None:
        abort(404)
    response = current_app.response_class(found.data, mimetype=found.content_type)
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Nothing in the image may run or fetch, even opened on its own (an SVG's script).
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.set_etag(found.digest)
    return response.make_conditional(request)
