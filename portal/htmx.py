"""One template, two renders: the page for browsers, a named block for htmx requests."""

from flask import make_response, redirect, render_template, request
from jinja2_fragments.flask import render_block


def wants_fragment() -> bool:
    """Only a plain htmx request gets a fragment; boosts and history restores need pages."""
    hx = request.htmx
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def render(template: str, block: str, status: int = 200, **context):
    """Render the whole page, or only `block` when htmx asked for a fragment."""
    if wants_fragment():
        return make_response(render_block(template, block, **context), status)
    return make_response(render_template(template, **context), status)


def render_or_redirect(url: str, template: str, block: str, **context):
    """After a change: the updated block for htmx, a 303 redirect for a plain form."""
    if wants_fragment():
        return make_response(render_block(template, block, **context))
    return redirect(url, code=303)


def navigate(url: str):
    """Send the browser to url: a full page load for htmx, a 303 redirect otherwise."""
    if request.htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)
