"""Every named rate limit on every route that carries it (SPEC section 10, issue 8 point 5):
with a limit of N, N requests pass and the next is refused with 429, a Retry-After header
and a clear page (or the API's JSON error), while another person and another address go
on as before. The routes are read from the limiter itself, so a new limited route without
a case here fails the run. Limits shared by several processes: test_shared_rate_limits.py.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from flask_limiter.util import get_qualified_name

from conftest import PASSWORD, Auth, htmx_headers
from portal.config import DEFAULT_RATE_LIMITS
from portal.extensions import db, limiter
from portal.models import Comment, Idea, Role, SignInLink, User
from portal.operations.comments import add_comment
from portal.operations.tokens import create_token
from portal.totp_keys import seal

N = 3
HERE, ELSEWHERE = "198.51.100.7", "203.0.113.9"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # an authenticator app's key, for two-factor


@dataclass(frozen=True)
class Case:
    """One route under one named limit. `who` says what the limit counts: "address" (a
    visitor), "account" (a signed-in person), "token" (the API), "pending" (a sign-in
    waiting for its second factor). `body(n)` is the n-th request's form or JSON."""

    limit: str
    endpoint: str
    method: str
    path: str  # {idea}, {own}, {comment}: the n-th of the world's ideas and comments;
    # {author}: the id of the world's author
    who: str
    body: Callable[[int], dict] = field(default=lambda n: {})
    two_factor: bool = False  # the person has two-factor sign-in on
    linked: bool = False  # the person is linked to the company's app: another way in
    role: Role = Role.CUSTOMER
    wrong_answer: int = 422  # the status of a request refused for what it sent

    @property
    def is_api(self) -> bool:
        return self.endpoint.startswith("api.")


def new_idea(n: int) -> dict:
    return {"title": f"Idea number {n} about exports", "body": "Please.", "confirmed": "1",
            "submission_key": f"key-{n}", "board": "features"}  # fmt: skip


CASES = [
    Case("vote", "public.vote", "POST", "/ideas/{idea}/vote", "account"),
    Case("vote", "api.vote", "PUT", "/api/v1/ideas/{idea}/vote", "token"),
    Case("vote", "api.unvote", "DELETE", "/api/v1/ideas/{idea}/vote", "token"),
    Case(
        "comment",
        "public.comment",
        "POST",
        "/ideas/{idea}/comments",
        "account",
        lambda n: {"body": f"Comment number {n}."},
    ),  # fmt: skip
    Case(
        "comment",
        "api.post_comment",
        "POST",
        "/api/v1/ideas/{idea}/comments",
        "token",
        lambda n: {"body": f"Comment number {n}."},
    ),  # fmt: skip
    Case("post", "public.submit", "POST", "/b/features/new", "account", new_idea),
    Case("post", "api.post_idea", "POST", "/api/v1/ideas", "token", new_idea),
    Case(
        "flag",
        "public.flag_idea",
        "POST",
        "/ideas/{idea}/flags",
        "account",
        lambda n: {"reason": "spam"},
    ),  # fmt: skip
    Case(
        "flag",
        "public.flag_comment",
        "POST",
        "/comments/{comment}/flags",
        "account",
        lambda n: {"reason": "abuse"},
    ),  # fmt: skip
    Case(
        "flag",
        "api.flag_idea",
        "POST",
        "/api/v1/ideas/{idea}/flags",
        "token",
        lambda n: {"reason": "spam"},
    ),  # fmt: skip
    Case(
        "signin",
        "auth.signin",
        "POST",
        "/signin",
        "address",
        lambda n: {"email": f"nobody{n}@example.com", "password": "not it"},
    ),  # fmt: skip
    Case(
        "signin",
        "account.password",
        "POST",
        "/me/password",
        "account",
        lambda n: {"current_password": "not it", "new_password": "another long password"},
    ),  # fmt: skip
    Case(
        "signin",
        "account.delete_account",
        "POST",
        "/me/delete",
        "account",
        lambda n: {"password": "not it"},
    ),  # fmt: skip
    # Only once another way in remains is the current password asked for (and guessed).
    Case(
        "signin",
        "account.remove_password_page",
        "POST",
        "/me/password/remove",
        "account",
        lambda n: {"current_password": "not it"},
        linked=True,
    ),  # fmt: skip
    Case(
        "signup",
        "auth.signup",
        "POST",
        "/signup",
        "address",
        lambda n: {
            "email": f"new{n}@example.com",
            "name": f"New {n}",
            "password": "a long enough password",
        },
    ),  # fmt: skip
    Case(
        "reset",
        "auth.reset_request",
        "POST",
        "/reset",
        "address",
        lambda n: {"email": f"someone{n}@example.com"},
    ),  # fmt: skip
    Case("reset", "auth.resend_verification", "POST", "/verify/resend", "account"),
    # Tokens the company's app did not sign count as wrong sign-ins from that address.
    Case(
        "signin",
        "auth.single_sign_on",
        "GET",
        "/sso?token=not-a-token",
        "address",
        wrong_answer=400,
    ),  # fmt: skip
    Case("signin", "auth.oidc_start", "GET", "/signin/oidc/unknown", "address", wrong_answer=404),
    Case(
        "signin",
        "auth.oidc_callback",
        "GET",
        "/signin/oidc/unknown/callback?code=a&state=b",
        "address",
        wrong_answer=404,
    ),
    # So do operators' sign-in links that sign nobody in.
    Case(
        "signin",
        "auth.use_link",
        "POST",
        "/signin/link/not-a-token",
        "address",
        wrong_answer=404,
    ),  # fmt: skip
    Case(
        "two_factor",
        "auth.two_factor",
        "POST",
        "/signin/code",
        "pending",
        lambda n: {"code": "000000"},
        two_factor=True,
    ),  # fmt: skip
    Case(
        "two_factor",
        "account.disable_two_factor",
        "POST",
        "/me/two-factor/disable",
        "account",
        lambda n: {"proof": "not it"},
        two_factor=True,
    ),  # fmt: skip
    Case(
        "two_factor",
        "account.recovery_codes",
        "POST",
        "/me/two-factor/recovery-codes",
        "account",
        lambda n: {"proof": "not it"},
        two_factor=True,
    ),  # fmt: skip
    Case(
        "two_factor",
        "admin.reset_user_two_factor",
        "POST",
        "/admin/users/{author}/two-factor/reset",
        "account",
        lambda n: {"proof": "not it"},
        role=Role.ADMIN,
    ),  # fmt: skip
    # The API's own limit counts every request of a token (or of an address without one)
    # to routes without a limit of their own, reads and writes alike.
    Case("api", "api.boards", "GET", "/api/v1/boards", "address"),
    Case("api", "api.ideas", "GET", "/api/v1/ideas?sort=new", "token"),
    Case(
        "api",
        "api.patch_idea",
        "PATCH",
        "/api/v1/ideas/{own}",
        "token",
        lambda n: {"body": f"Edited {n} times."},
    ),  # fmt: skip
]


@pytest.fixture
def limits(app):
    """Every named limit high, so that only the one a test lowers can be reached."""
    saved = dict(app.config["RATE_LIMITS"])
    app.config["RATE_LIMITS"].update({name: "10000 per minute" for name in saved})
    yield app.config["RATE_LIMITS"]
    app.config["RATE_LIMITS"].clear()
    app.config["RATE_LIMITS"].update(saved)


class World:
    """A board with ideas and comments by an author, and people who act on them."""

    def __init__(self, app, make, case: Case):
        self.app, self.make, self.case = app, make, case
        board = make.board()
        self.author = make.user(name="Author")
        self.ideas = [make.idea(board, self.author, f"Existing idea {n}") for n in range(N + 3)]
        with app.app_context():
            first = db.session.scalar(db.select(Idea).filter_by(number=self.ideas[0]))
            author = db.session.get(User, self.author.id)
            self.comments = [add_comment(author, first, f"Comment {n}.").id for n in range(N + 3)]
            db.session.commit()

    def person(self) -> "Actor":
        """Someone new, signed in as the case needs, at HERE."""
        with self.app.app_context():  # stored encrypted, as enabling it does
            sealed = seal(SECRET)
        fields = {"totp_secret": sealed} if self.case.two_factor else {}
        user = self.make.user(role=self.case.role, **fields)
        actor = Actor(self, user)
        if self.case.linked:
            with self.app.app_context():
                db.session.add(SignInLink(user_id=user.id, provider="sso", subject=user.email))
                db.session.commit()
        if self.case.who == "token":
            with self.app.app_context():
                actor.token = create_token(db.session.get(User, user.id), "limits")[1]
                db.session.commit()
        elif self.case.who == "pending":
            answer = actor.client.post("/signin", data={"email": user.email, "password": PASSWORD})
            assert "/signin/code" in answer.location
        elif self.case.who == "account":
            if self.case.two_factor:  # signed in first, then two-factor turned on
                with self.app.app_context():
                    db.session.get(User, user.id).totp_secret = None
                    db.session.commit()
            Auth(actor.client).login(user)
            if self.case.two_factor:
                with self.app.app_context():
                    db.session.get(User, user.id).totp_secret = sealed
                    db.session.commit()
        return actor

    def path(self, n: int, actor: "Actor") -> str:
        own = actor.own_idea() if "{own}" in self.case.path else None
        return self.case.path.format(
            idea=self.ideas[n % len(self.ideas)], comment=self.comments[n % len(self.comments)],
            own=own, author=self.author.id,
        )  # fmt: skip


class Actor:
    """One browser or API client; `address` is where its requests come from."""

    def __init__(self, world: World, user: User | None):
        self.world, self.user = world, user
        self.client = world.app.test_client()
        self.address = HERE
        self.token = None
        self.sent = 0
        self._own = None

    def own_idea(self) -> int:
        if self._own is None:
            board = self.world.make.board(f"mine-{self.user.id}")
            self._own = self.world.make.idea(board, self.user, "An idea of my own")
        return self._own

    def send(self, htmx: bool = False):
        case, n = self.world.case, self.sent
        self.sent += 1
        headers = htmx_headers() if htmx else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = {"json": case.body(n)} if case.is_api else {"data": case.body(n)}
        response = self.client.open(
            self.world.path(n, self), method=case.method, headers=headers,
            environ_base={"REMOTE_ADDR": self.address}, **body,
        )  # fmt: skip
        response.close()
        return response


def visitor(world: World) -> Actor:
    return Actor(world, None)


def first_of(world: World) -> Actor:
    return visitor(world) if world.case.who == "address" else world.person()


def assert_refused(response, case: Case) -> None:
    assert response.status_code == 429, (case.endpoint, response.status_code)
    assert 0 < int(response.headers["Retry-After"]) <= 60  # every case is "N per minute"
    if case.is_api:
        assert response.json["error"]["code"] == "rate_limited"
        assert response.json["error"]["message"]
    else:
        assert "Slow down" in response.text and "Wait a moment and try again." in response.text
        assert "Traceback" not in response.text


def assert_passed(response, case: Case, n: int) -> None:
    """Done, or refused for what was sent (a wrong password or code), never for its pace."""
    assert response.status_code != 429, f"{case.endpoint}: request {n + 1} of {N} was refused"
    allowed = (200, 201, 303, case.wrong_answer)
    assert response.status_code in allowed, (case.endpoint, n, response.status_code)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.limit}-{c.endpoint}")
def test_n_pass_the_next_is_refused_and_others_go_on(app, make, limits, case):
    world = World(app, make, case)
    first = first_of(world)
    # Lowered only now: first's own sign-in is a password check on their account too.
    limits[case.limit] = f"{N} per minute"
    for n in range(N):
        assert_passed(first.send(), case, n)
    assert_refused(first.send(), case)
    if not case.is_api:  # htmx asks for the same page, and is refused the same way
        assert_refused(first.send(htmx=True), case)

    # Another person at the same address goes on, and so does anyone at another address.
    if case.who != "address":
        neighbour = world.person()
        assert_passed(neighbour.send(), case, 0)
        first.address = ELSEWHERE  # the limit follows the account, not the address
        assert_refused(first.send(), case)
    stranger = world.person() if case.who != "address" else visitor(world)
    stranger.address = ELSEWHERE
    assert_passed(stranger.send(), case, 0)


def test_the_api_limit_counts_reads_and_writes_together(app, make, limits, api):
    limits["api"] = f"{N} per minute"
    world = World(app, make, CASES[-1])
    author = api.token(world.author)
    number = world.ideas[0]
    assert api.get("/api/v1/boards", author).status_code == 200
    assert api.get(f"/api/v1/ideas/{number}", author).status_code == 200
    edited = api.patch(f"/api/v1/ideas/{number}", author, json={"body": "Sharper now."})
    assert edited.status_code == 200
    refused = api.get("/api/v1/ideas", author)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"


def test_votes_by_page_and_by_api_count_once(app, make, limits, api):
    """A named limit is one count per person, whichever way they come."""
    limits["vote"] = f"{N} per minute"
    board = make.board()
    numbers = [make.idea(board, make.user(), f"Idea to vote on {n}") for n in range(N + 1)]
    voter = make.user()
    browser, token = app.test_client(), api.token(voter)
    Auth(browser).login(voter)
    assert browser.post(f"/ideas/{numbers[0]}/vote").status_code == 303
    assert api.put(f"/api/v1/ideas/{numbers[1]}/vote", token).status_code == 200
    assert api.delete(f"/api/v1/ideas/{numbers[1]}/vote", token).status_code == 200
    assert api.put(f"/api/v1/ideas/{numbers[2]}/vote", token).status_code == 429
    assert browser.post(f"/ideas/{numbers[3]}/vote").status_code == 429


def test_a_limit_set_in_the_environment_is_the_limit(app, tmp_path):
    from portal.config import ConfigError, load_config

    env = {"PORTAL_ENV": "development", "RATE_LIMIT_SIGNIN": "2 per minute"}
    configured = load_config(str(tmp_path), env)["RATE_LIMITS"]
    assert configured == {**DEFAULT_RATE_LIMITS, "signin": "2 per minute"}
    with pytest.raises(ConfigError, match="RATE_LIMIT_VOTE must read like '10 per minute'"):
        load_config(str(tmp_path), {"PORTAL_ENV": "development", "RATE_LIMIT_VOTE": "lots"})


def limited_routes(app) -> tuple[set[tuple[str, str]], set[str]]:
    """(endpoint, limit name) for every route carrying one of the named limits, and the names
    of limits on whole blueprints, read from the limiter with every limit a different size."""
    names = list(app.config["RATE_LIMITS"])
    sizes = {1000 + n: name for n, name in enumerate(names)}
    saved = dict(app.config["RATE_LIMITS"])
    app.config["RATE_LIMITS"].update({name: f"{size} per hour" for size, name in sizes.items()})
    routes, blueprint_limits = set(), set()
    try:
        with app.app_context():
            for endpoint, view in app.view_functions.items():
                for limit in limiter.limit_manager.decorated_limits(get_qualified_name(view)):
                    routes.add((endpoint, sizes[limit.limit.amount]))
            for blueprint in app.blueprints:
                for limit in limiter.limit_manager.blueprint_limits(app, blueprint):
                    blueprint_limits.add(sizes[limit.limit.amount])
    finally:
        app.config["RATE_LIMITS"].update(saved)
    return routes, blueprint_limits


def test_every_limited_route_and_every_limit_has_a_case(app):
    routes, blueprint_limits = limited_routes(app)
    covered = {(case.endpoint, case.limit) for case in CASES}
    assert routes - covered == set(), "add a Case for each of these routes"
    assert covered - routes <= {(case.endpoint, "api") for case in CASES if case.is_api}
    assert blueprint_limits <= {case.limit for case in CASES}
    assert set(app.config["RATE_LIMITS"]) == {case.limit for case in CASES}
    assert len(routes) >= 18  # what this suite proves, for SECURITY.md


def test_a_comment_refused_for_its_pace_is_not_posted(app, make, limits, client, auth):
    limits["comment"] = "1 per minute"
    number = make.idea(make.board(), make.user())
    auth.login(make.user())
    client.post(f"/ideas/{number}/comments", data={"body": "First comment."})
    refused = client.post(f"/ideas/{number}/comments", data={"body": "Second comment."})
    assert refused.status_code == 429
    with app.app_context():
        assert db.session.scalars(db.select(Comment.body)).all() == ["First comment."]
    assert client.get(f"/ideas/{number}").status_code == 200  # reading goes on
