"""Reading API input: a JSON object in the body and numbers in the query, with one clear
error per field instead of a 500."""

from flask import request

from portal.operations import OperationError, ValidationError

PER_PAGE_MAX = 100
PAGE_MAX = 10_000
TYPE_NAMES = {str: "text", int: "a whole number", bool: "true or false"}


def json_body() -> dict:
    """The request's JSON object ({} for an empty body); raises ValidationError."""
    if not request.get_data(cache=True):
        return {}
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise OperationError('The body must be a JSON object, such as {"title": "..."}.')
    return data


def field(data: dict, name: str, kind: type, required: bool = False):
    """data[name] if it has the right type, None when absent or null and not required."""
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationError({name: "This field is required."})
        return None
    # bool is an int in Python, but true is not a weight.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValidationError({name: f"Give {TYPE_NAMES[kind]}."})
    return value


def query_int(name: str, default: int, lowest: int, highest: int) -> int:
    """A whole number from the query string within bounds; raises ValidationError."""
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdecimal() and len(value) < 10):
        raise ValidationError({name: "Give a whole number."})
    number = int(value)
    if not lowest <= number <= highest:
        raise ValidationError({name: f"Give a number from {lowest} to {highest}."})
    return number


def query_choice(name: str, choices, default: str = "") -> str:
    value = request.args.get(name, "")
    if value == "":
        return default
    if value not in choices:
        raise ValidationError({name: f"Use one of: {', '.join(sorted(choices))}."})
    return value


def paging(default_per_page: int = 20) -> tuple[int, int]:
    return (
        query_int("page", 1, 1, PAGE_MAX),
        query_int("per_page", default_per_page, 1, PER_PAGE_MAX),
    )
