"""Calls /api/v1 like an integration would, and checks every answer against the OpenAPI
description the app serves: a test fails when an answer breaks its schema or has a status
code the description does not list."""

import re
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from portal.api.openapi import openapi_document
from portal.extensions import db
from portal.models import User
from portal.operations.tokens import create_token

DOCUMENT_URI = "urn:stimme:openapi"


def operation_for(document: dict, method: str, path: str) -> tuple[str, dict]:
    """The described path template and operation that serve method and path."""
    for template, operations in document["paths"].items():
        pattern = "^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return template, operations[method.lower()]
    raise AssertionError(f"{method} {path} is not described in openapi.json")


def schema_errors(document: dict, method: str, path: str, status: int, body) -> list[str]:
    """What is wrong with an answer, judged by the description; [] when it conforms."""
    template, operation = operation_for(document, method, path)
    described = operation["responses"].get(str(status))
    if described is None:
        return [f"{method} {template} answered {status}, which is not described"]
    content = described.get("content", {}).get("application/json")
    if content is None or "schema" not in content:
        return []
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in (
            "paths",
            template,
            method.lower(),
            "responses",
            str(status),
            "content",
            "application/json",
            "schema",
        )  # fmt: skip
    )
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator({"$ref": f"{DOCUMENT_URI}#/{pointer}"}, registry=registry)
    return [
        f"{method} {template} {status}: {error.json_path}: {error.message}"
        for error in validator.iter_errors(body)
    ]


class Api:
    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.document = openapi_document()

    def token(self, user: User, name: str = "test") -> str:
        with self.app.app_context():
            _row, token = create_token(db.session.get(User, user.id), name)
            db.session.commit()
            return token

    def call(self, method: str, path: str, token: str | None = None, **options):
        headers = dict(options.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.open(path, method=method, headers=headers, **options)
        body = response.get_json(silent=True)
        assert response.mimetype == "application/json", (path, response.status_code)
        problems = schema_errors(self.document, method, urlsplit(path).path,
                                 response.status_code, body)  # fmt: skip
        assert not problems, problems
        return response

    def get(self, path, token=None, **options):
        return self.call("GET", path, token, **options)

    def post(self, path, token=None, **options):
        return self.call("POST", path, token, **options)

    def put(self, path, token=None, **options):
        return self.call("PUT", path, token, **options)

    def patch(self, path, token=None, **options):
        return self.call("PATCH", path, token, **options)

    def delete(self, path, token=None, **options):
        return self.call("DELETE", path, token, **options)
