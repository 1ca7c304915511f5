"""The one place request input enters: every form field, query parameter, path part and JSON
body reaches the views as text any database can store, or is refused with a clear 400 (SPEC
section 9: no input produces a 500).

PostgreSQL cannot store NUL, and no database, page or mail can encode a lone surrogate (JSON
can spell one as "\\ud800"), so NUL is stripped like the other control characters and a
lone surrogate becomes U+FFFD, as undecodable bytes do. A JSON body nested deeper than any
of ours, or with a number no field can hold, is refused before a view sees it.
"""

import json
import math
import re

from flask import abort, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter

from portal.errors import OperationError

# The largest id a 32-bit column holds: SQLite raises on larger numbers instead of finding none.
MAX_ID = 2**31 - 1
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_ASCII = re.compile(rb"[\x80-\xff]")
# Our bodies are flat objects; 32 levels leave room for any client's wrapping.
JSON_DEPTH_MAX = 32
# Beyond 2**53 a JSON number is not the same number in every client (RFC 7493, I-JSON).
JSON_INTEGER_MAX = 2**53 - 1
JSON_NUMBER_DIGITS_MAX = 400  # a longer number is refused before Python reads it


def storable(value):
    """A text without NUL and with every lone surrogate made U+FFFD; anything else as it is."""
    if not isinstance(value, str):
        return value
    return LONE_SURROGATE.sub("\ufffd", value.replace("\x00", ""))


class StorableParameters(ImmutableMultiDict):
    """Query parameters and form fields, keys and values made storable as they are parsed."""

    def __init__(self, mapping=None):
        pairs = MultiDict(mapping).items(multi=True) if mapping is not None else ()
        super().__init__([(storable(key), storable(value)) for key, value in pairs])


# Only the API reads JSON, and it answers in English (SPEC section 6): no translations.
class TooDeep(OperationError):
    def __init__(self):
        super().__init__(f"The JSON body is nested more than {JSON_DEPTH_MAX} levels deep.")


class NumberTooLarge(OperationError):
    def __init__(self):
        super().__init__(
            "A number in the JSON body is out of range: give one from "
            f"-{JSON_INTEGER_MAX} to {JSON_INTEGER_MAX}."
        )


def _integer(text: str) -> int:
    if len(text) > JSON_NUMBER_DIGITS_MAX or abs(number := int(text)) > JSON_INTEGER_MAX:
        raise NumberTooLarge()
    return number


def _real(text: str) -> float:
    number = float(text) if len(text) <= JSON_NUMBER_DIGITS_MAX else math.inf
    if not math.isfinite(number) or abs(number) > JSON_INTEGER_MAX:
        raise NumberTooLarge()
    return number


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")  # Python reads NaN and Infinity; JSON has neither


class StorableJSONProvider(DefaultJSONProvider):
    """Reads request bodies (request.get_json) and the session cookie we write; raises
    OperationError (400) for a body too deep or a number too large, ValueError for one that
    is not JSON."""

    def loads(self, s: str | bytes, **kwargs):
        try:
            found = json.loads(
                s, parse_int=_integer, parse_float=_real, parse_constant=_not_json, **kwargs
            )
        except RecursionError:
            raise TooDeep() from None
        return _storable_json(found)


def _storable_json(found):
    """found with every string (keys too) made storable; raises TooDeep. Walks with a list of
    its own rather than recursing: the parser may have gone as deep as the stack allows."""
    root = [found]
    pending = [(root, 0, 0)]
    while pending:
        parent, key, depth = pending.pop()
        value = parent[key]
        if isinstance(value, str):
            parent[key] = storable(value)
        elif isinstance(value, dict | list):
            if depth >= JSON_DEPTH_MAX:
                raise TooDeep()
            if isinstance(value, dict):
                value = parent[key] = {storable(k): item for k, item in value.items()}
            keys = list(value) if isinstance(value, dict) else range(len(value))
            pending.extend((value, k, depth + 1) for k in keys)
    return root[0]


class StorableInput:
    """Mixed into the app's request class (htmx-flask's adds request.htmx)."""

    parameter_storage_class = StorableParameters

    def __init__(self, environ, *args, **kwargs):
        super().__init__(environ, *args, **kwargs)
        # A server that passes a raw URL on may hand over bytes beyond ASCII, which Werkzeug
        # reads as UTF-8 or fails: sent percent-encoded, as browsers do, they cannot fail.
        self.query_string = NOT_ASCII.sub(lambda byte: b"%%%02X" % byte[0][0], self.query_string)


class RowNumber(IntegerConverter):
    """<int:...> in every route: a number larger than any row's id reaches the view as 0,
    which names no row, so the view answers 404 as for any unknown number. (Refusing it in
    the converter instead lets Werkzeug answer 405 where another method's route matches.)"""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= MAX_ID else 0


def refuse_nul_in_path(_endpoint, values) -> None:
    """A path part with NUL names nothing (PostgreSQL could not even look it up): 404."""
    if values and any("\x00" in value for value in values.values() if isinstance(value, str)):
        abort(404)


def refuse_json_on_pages() -> None:
    """Pages read forms: Flask-WTF would take a JSON body's numbers, lists and objects for
    field values, which no view expects. Only the API reads JSON. A read carries no form:
    its content type (a monitor may send one) changes nothing."""
    reads = request.method in ("GET", "HEAD", "OPTIONS")
    if (
        request.is_json
        and not reads
        and request.url_rule is not None
        and request.blueprint != "api"
    ):
        abort(415)


def init_app(app) -> None:
    """Call before the blueprints are registered: their rules take the converter then."""
    app.url_map.converters["int"] = RowNumber
    app.request_class = type("StorableRequest", (StorableInput, app.request_class), {})
    app.json = StorableJSONProvider(app)
    app.url_value_preprocessor(refuse_nul_in_path)
    app.before_request(refuse_json_on_pages)
