"""The JSON API of SPEC section 6, used the way an integration would: tokens, roles,
paging, errors and the rules the HTML pages follow. Every answer is also checked against
the OpenAPI description (tests/api_contract.py)."""

import pytest

from portal.extensions import db
from portal.models import ApiToken, Comment, Flag, Idea, Role, User, Vote
from portal.operations.comments import add_comment

IDEA_FIELDS = {
    "number", "board", "title", "body", "body_html", "status", "status_label", "vote_count",
    "comment_count", "category", "author", "created_at", "updated_at", "url", "merged_into",
    "my_vote",
}  # fmt: skip


def stored(app, number) -> Idea:
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        db.session.expunge(idea)
        return idea


def counter_matches_votes(app, number) -> bool:
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        weights = db.session.scalars(db.select(Vote.weight).filter_by(idea_id=idea.id)).all()
        return idea.vote_count == sum(weights)


@pytest.fixture
def board(make):
    return make.board()


# Reading


def test_visitors_read_public_boards_and_ideas_without_a_token(api, make, board):
    make.board("lab", is_private=True)
    author = make.user(name="Ada")
    number = make.idea(board, author, title="Dark mode for reports", body="Please **bold**")
    boards = api.get("/api/v1/boards").json["boards"]
    assert [b["slug"] for b in boards] == ["features"]
    assert boards[0]["categories"] == [
        {"slug": "integrations", "name": "Integrations"},
        {"slug": "reporting", "name": "Reporting"},
    ]
    idea = api.get(f"/api/v1/ideas/{number}").json
    assert set(idea) == IDEA_FIELDS | {"held"} and idea["held"] is False  # one idea: held?
    assert idea["title"] == "Dark mode for reports" and idea["board"] == "features"
    assert idea["body_html"] == "<p>Please <strong>bold</strong></p>\n"
    assert idea["author"]["name"] == "Ada" and idea["status"] == "open"
    assert idea["status_label"] == "Open" and idea["my_vote"] == 0
    assert idea["created_at"].endswith("Z") and idea["url"] == f"http://localhost/ideas/{number}"


def test_ideas_are_paged_filtered_and_sorted(api, make, board, app):
    author = make.user()
    numbers = [make.idea(board, author, title=f"Idea number {i}", vote_count=i) for i in range(5)]
    make.idea(board, author, title="A planned thing", status="planned")
    first = api.get("/api/v1/ideas?sort=top&per_page=2").json
    assert first["total"] == 6 and first["has_next"] is True
    assert [i["number"] for i in first["ideas"]] == [numbers[4], numbers[3]]
    last = api.get("/api/v1/ideas?sort=top&per_page=2&page=3").json
    assert last["has_next"] is False and len(last["ideas"]) == 2
    planned = api.get("/api/v1/ideas?status=planned").json["ideas"]
    assert [i["title"] for i in planned] == ["A planned thing"]
    assert api.get("/api/v1/ideas?board=features&category=reporting").json["total"] == 0


def test_q_finds_ideas_best_match_first(api, make, board):
    author = make.user()
    make.idea(board, author, title="Calendar sync", body="Export to Outlook")
    best = make.idea(board, author, title="Export to Excel", body="An export button")
    found = api.get("/api/v1/ideas?q=export").json
    assert found["total"] == 2 and found["ideas"][0]["number"] == best


@pytest.mark.parametrize(
    "query, field",
    [("sort=loudest", "sort"), ("status=nope", "status"), ("per_page=500", "per_page"),
     ("page=0", "page"), ("page=x", "page"), ("board=lab", "board"), ("category=x", "category")],
)  # fmt: skip
def test_bad_query_values_get_a_clear_400(api, make, board, query, field):
    make.board("lab", is_private=True)
    answer = api.get(f"/api/v1/ideas?{query}")
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "invalid" and field in answer.json["error"]["fields"]


def test_private_boards_and_hidden_ideas_are_404_unless_staff(api, make):
    lab = make.board("lab", is_private=True)
    public = make.board("features")
    secret = make.idea(lab, make.user(), title="Secret roadmap item")
    hidden = make.idea(public, make.user(), title="Hidden by moderators", is_hidden=True)
    for number in (secret, hidden, 999_999, 2**40):
        answer = api.get(f"/api/v1/ideas/{number}")
        assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found"
    staff = api.token(make.user(Role.MODERATOR))
    assert api.get(f"/api/v1/ideas/{secret}", staff).status_code == 200
    assert "lab" in [b["slug"] for b in api.get("/api/v1/boards", staff).json["boards"]]
    assert api.get("/api/v1/ideas?board=lab", staff).json["total"] == 1


def test_search_gives_snippets_and_similar_gives_five_at_most(api, make, board):
    author = make.user()
    for i in range(7):
        make.idea(board, author, title=f"Export reports variant {i}", body="export to CSV")
    result = api.get("/api/v1/search?q=csv&limit=3").json
    assert result["total"] == 7 and len(result["hits"]) == 3
    assert "<mark>" in result["hits"][0]["snippet"]
    similar = api.get("/api/v1/similar?title=export+reports&board=features").json["ideas"]
    assert 1 <= len(similar) <= 5


# Tokens


def test_writes_need_a_token(api, make, board):
    number = make.idea(board, make.user())
    answer = api.put(f"/api/v1/ideas/{number}/vote")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json["error"]["code"] == "unauthorized"


def test_a_wrong_or_revoked_token_is_refused_even_for_reads(api, make, app, board):
    user = make.user()
    token = api.token(user)
    assert api.get("/api/v1/me", token).json["id"] == user.id
    for wrong in ("stm_" + "x" * 43, token + "x", "not-even-a-token"):
        assert api.get("/api/v1/boards", wrong).status_code == 401
    with app.app_context():
        db.session.execute(db.update(ApiToken).values(revoked_at=db.func.now()))
        db.session.commit()
    assert api.get("/api/v1/boards", token).status_code == 401


def test_a_blocked_customer_reads_but_cannot_write(api, make, app, board):
    number = make.idea(board, make.user())
    blocked = make.user(is_blocked=True)
    token = api.token(blocked)
    assert api.get(f"/api/v1/ideas/{number}", token).status_code == 200
    assert api.put(f"/api/v1/ideas/{number}/vote", token).status_code == 403
    post = api.post("/api/v1/ideas", token, json={"board": "features", "title": "Let me in"})
    assert post.status_code == 403
    comment = api.post(f"/api/v1/ideas/{number}/comments", token, json={"body": "Hello"})
    assert comment.status_code == 403
    assert stored(app, number).vote_count == 0 and stored(app, number).comment_count == 0


def test_a_deleted_accounts_token_stops_working(api, make, app):
    user = make.user()
    token = api.token(user)
    with app.app_context():
        db.session.get(User, user.id).deleted_at = db.func.now()
        db.session.commit()
    assert api.get("/api/v1/me", token).status_code == 401


def test_the_session_cookie_does_not_sign_in_to_the_api(api, make, auth, client, board):
    """So a page on another site cannot act through a signed-in visitor's browser."""
    number = make.idea(board, make.user())
    user = make.user()
    auth.login(user)
    api.client = client  # the signed-in browser's cookies
    assert api.put(f"/api/v1/ideas/{number}/vote").status_code == 401


def test_tokens_are_made_on_the_profile_page_shown_once_and_revoked(client, auth, make, app, api):
    user = make.user()
    auth.login(user)
    made = client.post("/me/tokens", data={"name": "Nightly export"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    token = next(w for w in made.text.replace('"', " ").split() if w.startswith("stm_"))
    assert api.get("/api/v1/me", token).json["id"] == user.id
    with app.app_context():
        row = db.session.scalar(db.select(ApiToken))
        assert row.name == "Nightly export" and token not in (row.token_hash, row.prefix)
        token_id = row.id
    profile = client.get("/me").text
    assert "Nightly export" in profile and token not in profile
    exported = client.get("/account/export.json").json["api_tokens"]
    assert [t["name"] for t in exported] == ["Nightly export"] and token not in str(exported)
    other = make.user()
    auth.logout()
    auth.login(other)
    assert client.post(f"/me/tokens/{token_id}/revoke").status_code == 404
    assert api.get("/api/v1/me", token).status_code == 200
    auth.logout()
    auth.login(user)
    assert client.post(f"/me/tokens/{token_id}/revoke").status_code == 303
    assert api.get("/api/v1/me", token).status_code == 401
    assert "is revoked" in client.get("/me").text
    assert "Nightly export" not in client.get("/me").text


def test_create_token_prints_a_working_token_as_its_last_line(app, api, make):
    owner = make.user(Role.OWNER, email="olga@example.com")
    result = app.test_cli_runner().invoke(args=["create-token", "olga@example.com"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    me = api.get("/api/v1/me", token).json
    assert me["id"] == owner.id and me["role"] == "owner"
    unknown = app.test_cli_runner().invoke(args=["create-token", "nobody@example.com"])
    assert unknown.exit_code != 0 and "no account" in unknown.output


# Writing


def test_a_customer_posts_an_idea_and_extra_fields_are_ignored(api, make, app, board):
    author = make.user(name="Cleo")
    token = api.token(author)
    answer = api.post("/api/v1/ideas", token, json={
        "board": "features", "title": "  Slack alerts  ", "body": "On *new* replies",
        "category": "integrations",
        "status": "completed", "vote_count": 500, "author": 1, "role": "admin", "number": 7,
    })  # fmt: skip
    assert answer.status_code == 201
    idea = answer.json
    assert answer.headers["Location"].endswith(f"/api/v1/ideas/{idea['number']}")
    assert (idea["title"], idea["category"], idea["status"]) == ("Slack alerts", "integrations",
                                                                  "open")  # fmt: skip
    assert idea["vote_count"] == 0 and idea["author"] == {"id": author.id, "name": "Cleo"}
    with app.app_context():
        assert db.session.get(User, author.id).role is Role.CUSTOMER


def test_an_idempotency_key_makes_a_retried_post_one_idea(api, make, app, board):
    token = api.token(make.user())
    body = {"board": "features", "title": "Retry safe ideas"}
    key = {"Idempotency-Key": "c0ffee-1"}
    first = api.post("/api/v1/ideas", token, json=body, headers=key)
    second = api.post("/api/v1/ideas", token, json=body, headers=key)
    assert first.json["number"] == second.json["number"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Idea.id))) == 1


@pytest.mark.parametrize(
    "body, field",
    [({"board": "features", "title": "abc"}, "title"),
     ({"board": "features", "title": 12345}, "title"),
     ({"board": "features"}, "title"),
     ({"board": "nope", "title": "Valid title"}, "board"),
     ({"board": "features", "title": "Valid title", "category": "nope"}, "category"),
     ({"board": "features", "title": "Valid title", "body": "x" * 10_001}, "body")],
)  # fmt: skip
def test_invalid_ideas_are_refused_field_by_field(api, make, app, board, body, field):
    answer = api.post("/api/v1/ideas", api.token(make.user()), json=body)
    assert answer.status_code == 400 and field in answer.json["error"]["fields"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Idea.id))) == 0


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400(api, make, board, data):
    answer = api.post("/api/v1/ideas", api.token(make.user()), data=data,
                      content_type="application/json")  # fmt: skip
    assert answer.status_code == 400 and "JSON object" in answer.json["error"]["message"]


def test_a_body_over_one_megabyte_is_a_413(api, make, board):
    big = {"board": "features", "title": "Large", "body": "x" * (1024 * 1024)}
    answer = api.post("/api/v1/ideas", api.token(make.user()), json=big)
    assert answer.status_code == 413 and answer.json["error"]["code"] == "too_large"


def test_authors_edit_their_open_idea_and_others_cannot(api, make, app, board):
    author = make.user()
    number = make.idea(board, author, title="First title")
    token = api.token(author)
    changes = {"title": "Better title", "status": "completed", "vote_count": 99,
               "author": {"id": 1}}  # fmt: skip
    answer = api.patch(f"/api/v1/ideas/{number}", token, json=changes)
    assert answer.status_code == 200
    assert answer.json["title"] == "Better title" and answer.json["body"] == "We need it."
    assert (stored(app, number).status, stored(app, number).vote_count) == ("open", 0)
    stranger = api.token(make.user())
    taken = api.patch(f"/api/v1/ideas/{number}", stranger, json={"title": "Mine now"})
    assert taken.status_code == 403
    moderator = api.token(make.user(Role.MODERATOR))
    staff_edit = api.patch(f"/api/v1/ideas/{number}", moderator, json={"category": "reporting"})
    assert staff_edit.json["category"] == "reporting" and stored(app, number).edited_by_staff
    assert stored(app, number).title == "Better title"


def test_voting_is_idempotent_and_unvoting_gives_the_same_answer_shape(api, make, app, board):
    number = make.idea(board, make.user())
    token = api.token(make.user())
    first = api.put(f"/api/v1/ideas/{number}/vote", token).json
    again = api.put(f"/api/v1/ideas/{number}/vote", token, json={}).json
    assert first == again == {"vote_count": 1, "my_weight": 1, "votes_left": None}
    assert api.get(f"/api/v1/ideas/{number}", token).json["my_vote"] == 1
    assert api.delete(f"/api/v1/ideas/{number}/vote", token).json == {
        "vote_count": 0, "my_weight": 0, "votes_left": None}  # fmt: skip
    assert api.delete(f"/api/v1/ideas/{number}/vote", token).json["vote_count"] == 0
    assert counter_matches_votes(app, number)


def test_weights_and_budgets_hold_through_the_api(api, make, app):
    board = make.board("budget", votes_per_user=3, max_votes_per_idea=2)
    author = make.user()
    first, second = make.idea(board, author), make.idea(board, author, title="Another one")
    token = api.token(make.user())
    assert api.put(f"/api/v1/ideas/{first}/vote", token, json={"weight": 2}).json == {
        "vote_count": 2, "my_weight": 2, "votes_left": 1}  # fmt: skip
    over = api.put(f"/api/v1/ideas/{second}/vote", token, json={"weight": 2})
    assert over.status_code == 409 and "no votes left" in over.json["error"]["message"]
    for weight in (3, 0, "2", True):
        bad = api.put(f"/api/v1/ideas/{first}/vote", token, json={"weight": weight})
        assert bad.status_code == 400 and "weight" in bad.json["error"]["fields"]
    assert counter_matches_votes(app, first) and counter_matches_votes(app, second)


def test_voting_on_a_closed_idea_is_a_409(api, make, board):
    number = make.idea(board, make.user(), status="completed")
    answer = api.put(f"/api/v1/ideas/{number}/vote", api.token(make.user()))
    assert answer.status_code == 409 and answer.json["error"]["code"] == "conflict"


def test_comments_are_posted_and_listed_without_internal_or_hidden_ones(api, make, app, board):
    number = make.idea(board, make.user())
    customer, owner = api.token(make.user()), api.token(make.user(Role.OWNER))
    posted = api.post(f"/api/v1/ideas/{number}/comments", customer, json={"body": "Me too!"})
    assert posted.status_code == 201 and posted.json["body_html"] == "<p>Me too!</p>\n"
    official = api.post(f"/api/v1/ideas/{number}/comments", owner,
                        json={"body": "We are on it", "official": True})  # fmt: skip
    assert official.json["is_official"] is True
    refused = api.post(f"/api/v1/ideas/{number}/comments", customer,
                       json={"body": "Psst", "internal": True})  # fmt: skip
    assert refused.status_code == 403
    note = api.post(f"/api/v1/ideas/{number}/comments", owner,
                    json={"body": "Big customer asks too", "internal": True})  # fmt: skip
    assert note.status_code == 201 and set(note.json) == {"id", "idea", "internal", "created_at"}
    with app.app_context():
        db.session.get(Comment, posted.json["id"]).is_hidden = True
        db.session.commit()
    listed = api.get(f"/api/v1/ideas/{number}/comments").json
    assert [c["body"] for c in listed["comments"]] == ["We are on it"]
    empty = api.post(f"/api/v1/ideas/{number}/comments", customer, json={"body": "  "})
    assert empty.status_code == 400 and "body" in empty.json["error"]["fields"]


def test_internal_notes_never_appear_in_any_api_answer(api, make, app, board):
    owner = make.user(Role.OWNER)
    number = make.idea(board, make.user(), title="Offline mode for the app")
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        add_comment(db.session.get(User, owner.id), idea, "ZEBRANOTE offline costs", internal=True)
        db.session.commit()
    owner_token = api.token(owner)
    via_api = api.post(f"/api/v1/ideas/{number}/comments", owner_token,
                       json={"body": "ZEBRANOTE from the API", "internal": True})  # fmt: skip
    assert "ZEBRANOTE" not in via_api.text
    tokens = [None, owner_token] + [api.token(make.user(role)) for role in Role]
    paths = ["/api/v1/boards", "/api/v1/ideas", "/api/v1/ideas?q=ZEBRANOTE",
             f"/api/v1/ideas/{number}", f"/api/v1/ideas/{number}/comments",
             "/api/v1/search?q=ZEBRANOTE", "/api/v1/search?q=offline",
             "/api/v1/similar?title=ZEBRANOTE+offline"]  # fmt: skip
    for token in tokens:
        for path in paths:
            answer = api.get(path, token)
            assert answer.status_code == 200 and "ZEBRANOTE" not in answer.text, path
    assert stored(app, number).comment_count == 0


def test_owners_change_status_and_invalid_moves_are_409(api, make, app, board):
    number = make.idea(board, make.user())
    customer, owner = api.token(make.user()), api.token(make.user(Role.OWNER))
    refused = api.post(f"/api/v1/ideas/{number}/status", customer, json={"status": "planned"})
    assert refused.status_code == 403 and stored(app, number).status == "open"
    moved = api.post(f"/api/v1/ideas/{number}/status", owner,
                     json={"status": "planned", "response": "Coming in **May**"})  # fmt: skip
    assert moved.status_code == 200 and moved.json["status_label"] == "Planned"
    for target in ("planned", "duplicate", "nonsense"):
        invalid = api.post(f"/api/v1/ideas/{number}/status", owner, json={"status": target})
        assert invalid.status_code == 409 and "status" in invalid.json["error"]["fields"]
    assert stored(app, number).status == "planned"
    missing = api.post(f"/api/v1/ideas/{number}/status", owner, json={})
    assert missing.status_code == 400


def test_moderators_merge_through_the_api(api, make, app, board):
    author = make.user()
    original = make.idea(board, author, title="Dark mode")
    duplicate = make.idea(board, author, title="Night theme please")
    voters = [api.token(make.user()) for _ in range(3)]
    for token in voters[:2]:
        api.put(f"/api/v1/ideas/{original}/vote", token)
    for token in voters[1:]:
        api.put(f"/api/v1/ideas/{duplicate}/vote", token)
    assert api.post(f"/api/v1/ideas/{duplicate}/merge", voters[0],
                    json={"into": original}).status_code == 403  # fmt: skip
    moderator = api.token(make.user(Role.MODERATOR))
    bad = api.post(f"/api/v1/ideas/{duplicate}/merge", moderator, json={"into": "#999"})
    assert bad.status_code == 400 and "into" in bad.json["error"]["fields"]
    merged = api.post(f"/api/v1/ideas/{duplicate}/merge", moderator, json={"into": f"#{original}"})
    assert merged.status_code == 200
    assert merged.json["merged_into"] == original and merged.json["status"] == "duplicate"
    assert api.get(f"/api/v1/ideas/{original}").json["vote_count"] == 3
    assert counter_matches_votes(app, original) and counter_matches_votes(app, duplicate)
    again = api.post(f"/api/v1/ideas/{duplicate}/merge", moderator, json={"into": original})
    assert again.status_code == 409


def test_customers_flag_once(api, make, board):
    number = make.idea(board, make.user())
    token = api.token(make.user())
    made = api.post(f"/api/v1/ideas/{number}/flags", token, json={"reason": "spam"})
    assert made.status_code == 201 and made.json["reason"] == "spam"
    assert api.post(f"/api/v1/ideas/{number}/flags", token,
                    json={"reason": "spam"}).status_code == 409  # fmt: skip
    other = api.token(make.user())
    bad = api.post(f"/api/v1/ideas/{number}/flags", other, json={"reason": "boring"})
    assert bad.status_code == 400 and "reason" in bad.json["error"]["fields"]


# Limits


def test_rate_limits_answer_429_with_retry_after_per_token(api, make, app, board):
    limits = app.config["RATE_LIMITS"]
    saved = dict(limits)
    limits.update(api="3 per minute", vote="2 per minute")
    try:
        first, second = api.token(make.user()), api.token(make.user())
        for _ in range(3):
            assert api.get("/api/v1/boards", first).status_code == 200
        throttled = api.get("/api/v1/boards", first)
        assert throttled.status_code == 429 and throttled.json["error"]["code"] == "rate_limited"
        assert int(throttled.headers["Retry-After"]) > 0
        assert api.get("/api/v1/boards", second).status_code == 200
        number = make.idea(board, make.user())
        for _ in range(2):
            assert api.put(f"/api/v1/ideas/{number}/vote", second).status_code == 200
        assert api.put(f"/api/v1/ideas/{number}/vote", second).status_code == 429
    finally:
        limits.clear()
        limits.update(saved)


# Who may do what: every write, for every role, against a fresh idea by someone else.

ROLES = ["visitor", "blocked", "customer", "moderator", "owner", "admin"]
WRITES = {
    # name: (method, path after /api/v1/ideas, body, roles allowed, success status)
    "post idea": ("POST", "", {"board": "features", "title": "Role matrix idea"},
                  {"customer", "moderator", "owner", "admin"}, 201),
    "edit another's idea": ("PATCH", "/{n}", {"title": "Edited by someone"},
                            {"moderator", "owner", "admin"}, 200),
    "vote": ("PUT", "/{n}/vote", {}, {"customer", "moderator", "owner", "admin"}, 200),
    "comment": ("POST", "/{n}/comments", {"body": "A comment"},
                {"customer", "moderator", "owner", "admin"}, 201),
    "internal note": ("POST", "/{n}/comments", {"body": "A note", "internal": True},
                      {"owner", "admin"}, 201),
    "change status": ("POST", "/{n}/status", {"status": "planned"}, {"owner", "admin"}, 200),
    "merge": ("POST", "/{n}/merge", {"into": "{original}"}, {"moderator", "owner", "admin"}, 200),
    "flag": ("POST", "/{n}/flags", {"reason": "spam"},
             {"customer", "moderator", "owner", "admin"}, 201),
}  # fmt: skip


def snapshot(app) -> tuple:
    """Everything a refused write must leave as it was."""
    with app.app_context():
        ideas = db.session.execute(
            db.select(Idea.number, Idea.title, Idea.status, Idea.vote_count, Idea.comment_count,
                      Idea.merged_into_id).order_by(Idea.number)
        ).all()  # fmt: skip
        comments = db.session.scalar(db.select(db.func.count(Comment.id)))
        votes = db.session.scalar(db.select(db.func.count(Vote.id)))
        flags = db.session.scalar(db.select(db.func.count(Flag.id)))
        return tuple(ideas), comments, votes, flags


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("write", list(WRITES))
def test_each_role_may_do_exactly_its_writes(api, make, app, board, write, role):
    author = make.user()
    original = make.idea(board, author, title="The original idea")
    number = make.idea(board, author, title="Someone else's idea")
    token = None
    if role != "visitor":
        person = make.user(Role.CUSTOMER if role == "blocked" else Role[role.upper()],
                           is_blocked=role == "blocked")  # fmt: skip
        token = api.token(person)
    method, path, body, allowed, success = WRITES[write]
    body = {k: (v.format(original=original) if isinstance(v, str) else v) for k, v in body.items()}
    before = snapshot(app)
    answer = api.call(method, "/api/v1/ideas" + path.format(n=number), token, json=body)
    if role in allowed:
        assert answer.status_code == success, answer.json
        assert snapshot(app) != before
    else:
        assert answer.status_code == (401 if role == "visitor" else 403), answer.json
        assert snapshot(app) == before
