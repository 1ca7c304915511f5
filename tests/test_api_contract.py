"""The OpenAPI description and the routes agree, and answers are held to it."""

import re

import pytest
from jsonschema import Draft202012Validator

from api_contract import schema_errors
from portal.api.openapi import openapi_document

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def routes(app) -> set[tuple[str, str]]:
    """(METHOD, /path/{param}) for every API route the app serves."""
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            served |= {(method, path) for method in rule.methods - IGNORED_METHODS}
    return served


def described() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
    }


def test_every_route_is_described_and_every_description_is_served(app):
    assert routes(app) - described() == set(), "routes missing from openapi.json"
    assert described() - routes(app) == set(), "described paths the app does not serve"


def test_the_served_description_is_the_document(api):
    served = api.get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.json == openapi_document()
    assert served.json["openapi"].startswith("3.1")


def test_every_schema_is_valid_json_schema():
    for schema in openapi_document()["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises SchemaError, naming the fault


def test_every_operation_describes_its_errors_with_the_error_shape():
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            if path.endswith("openapi.json"):
                continue
            # 414 comes from the web server in front of the app, before any route.
            errors = [code for code in operation["responses"] if code[0] == "4" and code != "414"]
            assert {"400", "401", "404", "429"} <= set(errors), (method, path)
            for code in errors:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}


IDEA = {
    "number": 1, "board": "features", "title": "T", "body": "", "body_html": "",
    "status": "open", "status_label": "Open", "vote_count": 0, "comment_count": 0,
    "category": None, "author": {"id": 1, "name": "A"}, "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z", "url": "http://localhost/ideas/1",
    "merged_into": None, "my_vote": 0,
}  # fmt: skip


@pytest.mark.parametrize(
    "answer, status",
    [({**IDEA, "internal_notes": ["leaked"]}, 200),
     ({key: value for key, value in IDEA.items() if key != "my_vote"}, 200),
     ({**IDEA, "vote_count": -1}, 200),
     ({**IDEA, "author": {"id": 1, "name": "A", "email": "a@example.com"}}, 200),
     (IDEA, 418),
     ({"error": "nope"}, 404)],
)  # fmt: skip
def test_the_check_catches_answers_that_break_the_description(answer, status):
    """The schema check used by every API test can fail: extra, missing or wrong fields
    and undescribed status codes."""
    assert schema_errors(openapi_document(), "GET", "/api/v1/ideas/1", status, answer)
    assert not schema_errors(openapi_document(), "GET", "/api/v1/ideas/1", 200, IDEA)
