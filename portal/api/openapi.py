"""The OpenAPI 3.1 description served at /api/v1/openapi.json.

tests/test_api_contract.py fails when a route is missing here, when a path here has no
route, or when an answer in any API test does not match the schema given here.
"""

from functools import cache

from portal.operations.flags import REASONS

SORT_VALUES = ["trending", "top", "new", "updated", "comments"]


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def strict(properties: dict, required: list[str] | None = None) -> dict:
    """An object with exactly these properties: an extra field (a leaked internal note,
    say) breaks the schema."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


INTEGER = {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}
TEXT = {"type": "string"}
SLUG = {"type": "string", "maxLength": 60}
TIME = {"type": "string", "format": "date-time"}
URL = {"type": "string", "format": "uri"}


def page_of(key: str, item: str) -> dict:
    """One page of a list, as portal.api.views.paged answers it."""
    return strict(
        {
            key: {"type": "array", "items": ref(item)},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
            "total": COUNT,
            "has_next": {"type": "boolean"},
        }
    )


IDEA_PROPERTIES = {
    "number": {"type": "integer", "minimum": 1},
    "board": {**TEXT, "description": "The board's slug."},
    "title": TEXT,
    "body": {**TEXT, "description": "Markdown, as written."},
    "body_html": {**TEXT, "description": "The body rendered and sanitised."},
    "status": {**TEXT, "description": "A status slug: open, under_review, planned, ..."},
    "status_label": TEXT,
    "vote_count": {**COUNT, "description": "The sum of the weights of all votes."},
    "comment_count": {**COUNT, "description": "Comments every reader can see."},
    "category": nullable({**TEXT, "description": "The category's slug."}),
    "author": ref("Person"),
    "created_at": TIME,
    "updated_at": TIME,
    "url": URL,
    "merged_into": nullable({"type": "integer", "description": "The original's number."}),
    "my_vote": {
        "type": "integer",
        "minimum": 0,
        "maximum": 3,
        "description": "The weight of the caller's vote; 0 without one.",
    },  # fmt: skip
}
HELD = {
    "type": "boolean",
    "description": "In answers about one idea: true while it waits for a moderator's "
    "approval (a post or an edit on a board that holds new posts); only its author and staff "
    "see it meanwhile.",
}

SCHEMAS = {
    "Error": strict(
        {
            "error": strict(
                {
                    "code": {
                        "type": "string",
                        "examples": [
                            "invalid",
                            "unauthorized",
                            "forbidden",
                            "not_found",
                            "conflict",
                            "too_large",
                            "rate_limited",
                            "two_factor_required",
                        ],  # fmt: skip
                    },
                    "message": TEXT,
                    "fields": {
                        "type": "object",
                        "additionalProperties": TEXT,
                        "description": "Each field that was refused, with what is wrong.",
                    },
                }
            )
        }
    ),
    "Person": strict({"id": INTEGER, "name": TEXT}),
    "Me": strict(
        {
            "id": INTEGER,
            "name": TEXT,
            "email": TEXT,
            "role": {"enum": ["customer", "moderator", "owner", "admin"]},
            "blocked": {"type": "boolean"},
        }
    ),
    "Category": strict({"slug": TEXT, "name": TEXT}),
    "Board": strict(
        {
            "slug": TEXT,
            "name": TEXT,
            "description": TEXT,
            "is_private": {"type": "boolean"},
            "votes_per_user": {**COUNT, "description": "The vote budget; 0 is unlimited."},
            "max_votes_per_idea": {"type": "integer", "minimum": 1, "maximum": 3},
            "categories": {"type": "array", "items": ref("Category")},
            "url": URL,
        }
    ),
    "BoardList": strict({"boards": {"type": "array", "items": ref("Board")}}),
    "Idea": strict(IDEA_PROPERTIES | {"held": HELD}, list(IDEA_PROPERTIES)),
    "IdeaPage": page_of("ideas", "Idea"),
    "Comment": strict(
        {
            "id": INTEGER,
            "idea": INTEGER,
            "body": TEXT,
            "body_html": TEXT,
            "author": ref("Person"),
            "is_official": {"type": "boolean"},
            "is_pinned": {"type": "boolean"},
            "edited_by_staff": {"type": "boolean"},
            "created_at": TIME,
            "edited_at": nullable(TIME),
            "url": URL,
        }
    ),
    "InternalNoteReceipt": strict(
        {"id": INTEGER, "idea": INTEGER, "internal": {"const": True}, "created_at": TIME}
    ),
    "CommentPage": page_of("comments", "Comment"),
    "VoteState": strict(
        {
            "vote_count": COUNT,
            "my_weight": {"type": "integer", "minimum": 0, "maximum": 3},
            "votes_left": nullable({**COUNT, "description": "null on boards without a budget"}),
        }
    ),
    "FlagReceipt": strict(
        {"id": INTEGER, "idea": INTEGER, "reason": {"enum": list(REASONS)}, "created_at": TIME}
    ),
    "Hit": strict(
        {**IDEA_PROPERTIES, "snippet": {**TEXT, "description": "HTML; matches in <mark>."}}
    ),
    "SearchResult": strict({"hits": {"type": "array", "items": ref("Hit")}, "total": COUNT}),
    "SimilarIdeas": strict({"ideas": {"type": "array", "items": ref("Idea"), "maxItems": 5}}),
    "NewIdea": {
        "type": "object",
        "examples": [
            {
                "board": "feature-requests",
                "title": "Export reports as CSV",
                "body": "For our monthly review.",
                "category": "reporting",
            }
        ],  # fmt: skip
        "required": ["board", "title"],
        "properties": {
            "board": {**TEXT, "description": "A board's slug."},
            "title": {**TEXT, "description": "5 to 120 characters after trimming."},
            "body": {**TEXT, "description": "Markdown, at most 10,000 characters."},
            "category": nullable({**TEXT, "description": "A category's slug on that board."}),
        },
    },
    "IdeaChanges": {
        "type": "object",
        "examples": [{"title": "Export every report as CSV"}],
        "description": "Only these fields are read; anything else (status, votes, author, "
        "role) is ignored.",
        "properties": {
            "title": TEXT,
            "body": TEXT,
            "category": nullable({**TEXT, "description": "null removes the category."}),
        },
    },
    "VoteRequest": {
        "type": "object",
        "examples": [{"weight": 1}],
        "properties": {"weight": {"type": "integer", "minimum": 1, "maximum": 3, "default": 1}},
    },
    "NewComment": {
        "type": "object",
        "examples": [{"body": "We need this for our audits too."}],
        "required": ["body"],
        "properties": {
            "body": {**TEXT, "description": "Markdown, at most 5,000 characters."},
            "internal": {
                "type": "boolean",
                "default": False,
                "description": "A note for the team (product owners).",
            },
            "official": {
                "type": "boolean",
                "default": False,
                "description": "The team's answer (product owners).",
            },
        },  # fmt: skip
    },
    "StatusChangeRequest": {
        "type": "object",
        "examples": [{"status": "planned", "response": "Coming this quarter."}],
        "required": ["status"],
        "properties": {
            "status": {**TEXT, "description": "The new status's slug."},
            "response": {**TEXT, "description": "A public response in Markdown."},
        },
    },
    "MergeRequest": {
        "type": "object",
        "examples": [{"into": 1}],
        "required": ["into"],
        "properties": {
            "into": {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "description": 'The number of the original idea (12 or "#12").',
            }
        },
    },
    "FlagRequest": {
        "type": "object",
        "examples": [{"reason": "spam"}, {"reason": "duplicate", "duplicate_of": 1}],
        "required": ["reason"],
        "properties": {
            "reason": {"enum": list(REASONS)},
            "note": {**TEXT, "description": "Needed for reason other; at most 500 characters."},
            "duplicate_of": nullable(
                {
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                    "description": "The original's number, for reason duplicate.",
                }  # fmt: skip
            ),
        },
    },
}

ERRORS = {
    400: "The input was refused; `fields` says what to correct.",
    401: "No API token, or one that is unknown or revoked.",
    403: "The token's owner may not do this; `two_factor_required`: staff who must set up "
    "two-factor sign-in first (the site requires it) can use no route with a token until then.",
    404: "No such idea, or one the caller may not see.",
    409: "Not possible in the idea's present state.",
    413: "The body is larger than 1 MB.",
    429: "Too many requests; the Retry-After header says how many seconds to wait.",
}
READ_ERRORS = (400, 401, 403, 404, 429)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 429)
ANYONE = [{}, {"bearerAuth": []}]
TOKEN = [{"bearerAuth": []}]


def answers(status: int, schema: str, description: str, errors) -> dict:
    responses = {
        str(status): {
            "description": description,
            "content": {"application/json": {"schema": ref(schema)}},
        }
    }
    for code in errors:
        responses[str(code)] = {
            "description": ERRORS[code],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    if 429 in errors:
        responses["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return responses


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


NUMBER = {
    "name": "number",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "examples": [1, 2, 3]},
    "description": "The idea's number, as in /ideas/42.",
}
PAGING = [
    query("page", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1}, "Page."),
    query(
        "per_page",
        {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        "Ideas per page.",
    ),  # fmt: skip
]


def read(summary: str, schema: str, parameters=(), errors=READ_ERRORS) -> dict:
    responses = answers(200, schema, "OK", errors)
    if any(parameter["in"] == "query" for parameter in parameters):
        # Said by the web server (gunicorn, a proxy) before the app sees the request.
        responses["414"] = {"description": "The address is longer than the server takes."}
    return {
        "summary": summary,
        "security": ANYONE,
        "parameters": list(parameters),
        "responses": responses,
    }


def write(summary: str, request: str | None, status: int, schema: str, who: str) -> dict:
    operation = {
        "summary": summary,
        "description": f"Who: {who}.",
        "security": TOKEN,
        "parameters": [],
        "responses": answers(status, schema, "Done", WRITE_ERRORS),
    }
    if request:
        operation["requestBody"] = {
            "required": request not in ("VoteRequest",),
            "content": {"application/json": {"schema": ref(request)}},
        }
    return operation


def with_number(operation: dict) -> dict:
    operation["parameters"] = [NUMBER, *operation["parameters"]]
    return operation


@cache
def openapi_document() -> dict:
    comment_created = answers(201, "Comment", "The comment", WRITE_ERRORS)
    comment_created["201"]["content"]["application/json"]["schema"] = {
        "anyOf": [ref("Comment"), ref("InternalNoteReceipt")]
    }
    comment_created["201"]["description"] = (
        "The comment; an internal note is acknowledged with its id only: its text never "
        "leaves through the API."
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stimme API",
            "version": "1",
            "description": "Ideas, votes, comments and the product team's answers. Reads "
            "of public boards need no token; writes need `Authorization: Bearer <token>` "
            "(made on the profile page or with `flask --app portal create-token EMAIL`). "
            "A token acts with its owner's role. Internal notes never appear in any answer.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This description",
                    "security": ANYONE,
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
                    },  # fmt: skip
                }
            },
            "/api/v1/me": {"get": {**read("The token's owner", "Me"), "security": TOKEN}},
            "/api/v1/boards": {"get": read("Boards the caller may see", "BoardList")},
            "/api/v1/ideas": {
                "get": read(
                    "Ideas, filtered and paged",
                    "IdeaPage",
                    [
                        query("board", SLUG, "A board's slug."),
                        query("status", SLUG, "A status slug; duplicates only when asked."),
                        query("category", SLUG, "A category's slug."),
                        query(
                            "sort",
                            {"enum": SORT_VALUES},
                            "Order; with q and no sort, best matches first.",
                        ),  # fmt: skip
                        query("q", {**TEXT, "maxLength": 200}, "Words to search for."),
                        *PAGING,
                    ],
                ),
                "post": write("Post an idea", "NewIdea", 201, "Idea", "a customer"),
            },
            "/api/v1/ideas/{number}": {
                "get": read("One idea", "Idea", [NUMBER]),
                "patch": with_number(
                    write(
                        "Edit an idea",
                        "IdeaChanges",
                        200,
                        "Idea",
                        "its author while it is open and unanswered, or a moderator",
                    )
                ),  # fmt: skip
            },
            "/api/v1/ideas/{number}/vote": {
                "put": with_number(
                    write("Vote (twice is one vote)", "VoteRequest", 200, "VoteState", "a customer")
                ),  # fmt: skip
                "delete": with_number(
                    write("Take a vote back", None, 200, "VoteState", "a customer")
                ),
            },
            "/api/v1/ideas/{number}/comments": {
                "get": read("An idea's public comments", "CommentPage", [NUMBER, *PAGING]),
                "post": {
                    **with_number(
                        write(
                            "Comment",
                            "NewComment",
                            201,
                            "Comment",
                            "a customer; internal and official: a product owner",
                        )
                    ),  # fmt: skip
                    "responses": comment_created,
                },
            },
            "/api/v1/ideas/{number}/status": {
                "post": with_number(
                    write(
                        "Change the status, with a public response",
                        "StatusChangeRequest",
                        200,
                        "Idea",
                        "a product owner",
                    )
                )  # fmt: skip
            },
            "/api/v1/ideas/{number}/merge": {
                "post": with_number(
                    write(
                        "Merge this duplicate into its original",
                        "MergeRequest",
                        200,
                        "Idea",
                        "a moderator",
                    )
                )  # fmt: skip
            },
            "/api/v1/ideas/{number}/flags": {
                "post": with_number(
                    write(
                        "Flag an idea for the moderators",
                        "FlagRequest",
                        201,
                        "FlagReceipt",
                        "a customer",
                    )
                )  # fmt: skip
            },
            "/api/v1/search": {
                "get": read(
                    "Full-text search",
                    "SearchResult",
                    [
                        query("q", {**TEXT, "maxLength": 200}, 'Words, "a phrase", pre*.'),
                        query("board", SLUG, "A board's slug."),
                        query("status", SLUG, "A status slug."),
                        query(
                            "limit",
                            {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
                            "Hits per page.",
                        ),  # fmt: skip
                        query(
                            "page",
                            {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1},
                            "Page.",
                        ),  # fmt: skip
                    ],
                )
            },
            "/api/v1/similar": {
                "get": read(
                    "Up to 5 ideas like a title, to find duplicates before posting",
                    "SimilarIdeas",
                    [
                        query("title", {**TEXT, "maxLength": 200}, "The title being typed."),
                        query("board", SLUG, "A board's slug."),
                    ],
                )
            },
        },
    }
