"""The sign-in, sign-up, reset and two-factor budgets are one count per person and one per
address over every route that does the same thing (issue 18 point 8c): guesses spread over
routes, over addresses or over accounts run out all the same, and are answered with 429
and Retry-After. (Limits shared by several server processes: test_shared_rate_limits.py.)
"""

import pytest
from flask_limiter.util import get_qualified_name
from werkzeug.security import check_password_hash

from conftest import PASSWORD, Auth
from portal import totp
from portal.extensions import db, limiter
from portal.models import SignInLink, User
from portal.operations.two_factor import enable_two_factor

N = 3
OWNER = "owner@example.com"
# The same address as people type it: the count is the account's however it is spelled.
SPELLINGS = ["Owner@Example.com", " owner@EXAMPLE.COM", "OWNER@example.com ", OWNER]
WRONG = "not the password at all"


@pytest.fixture
def budget(app, roomy_limits):
    """Every named limit roomy, then the ones a test names lowered to N per minute."""

    def lower(*names):
        app.config["RATE_LIMITS"].update({name: f"{N} per minute" for name in names})

    return lower


def browser(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def address(n: int) -> str:
    return f"203.0.113.{n + 1}"


def assert_refused(response) -> None:
    assert response.status_code == 429, response.status_code
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert "Slow down" in response.text


def stored(app, user) -> User | None:
    with app.app_context():
        person = db.session.get(User, user.id)
        db.session.expunge(person)
        return person


# -- sign-in: every route that checks a password ----------------------------------------


def guess_on(route: str, app, signed_in, n: int, password: str):
    """One password tried against the owner's account by way of route: the sign-in page
    (each guess from another address), or the signed-in owner's own forms."""
    if route == "signin":
        form = {"email": SPELLINGS[n % len(SPELLINGS)], "password": password}
        return browser(app, address(n + 10)).post("/signin", data=form)
    if route == "password":
        form = {"current_password": password, "new_password": "a brand new passphrase"}
        return signed_in.post("/me/password", data=form)
    if route == "remove":
        return signed_in.post("/me/password/remove", data={"current_password": password})
    return signed_in.post("/me/delete", data={"password": password})


PASSWORD_ROUTES = ["signin", "password", "remove", "delete"]


@pytest.mark.parametrize(
    ("spent", "refused"),
    [(a, b) for a in PASSWORD_ROUTES for b in PASSWORD_ROUTES if a != b],
)
def test_password_guesses_on_one_route_use_up_the_others(app, make, budget, spent, refused):
    budget("signin")
    owner = make.user(email=OWNER)
    with app.app_context():  # another way in, so that removing the password asks for it
        db.session.add(SignInLink(user_id=owner.id, provider="sso", subject="owner-in-app"))
        db.session.commit()
    session = app.test_client()
    Auth(session).login(owner)  # a right password: not a guess, and not counted
    guesses = [guess_on(spent, app, session, n, WRONG) for n in range(N + 1)]
    assert [guess.status_code for guess in guesses] == [422] * N + [429]

    assert_refused(guess_on(refused, app, session, N, PASSWORD))  # even the right one
    person = stored(app, owner)
    assert person.deleted_at is None and check_password_hash(person.password_hash, PASSWORD)

    # Someone else's account goes on, from anywhere.
    other = make.user()
    elsewhere = browser(app, address(99))
    assert (
        elsewhere.post("/signin", data={"email": other.email, "password": PASSWORD}).status_code
        == 303
    )


# -- sign-up, sign-in and reset: per account named, and per address ---------------------


def named_form(kind: str, email: str) -> tuple[str, dict]:
    if kind == "signup":
        return "/signup", {"email": email, "name": "Someone New", "password": "a long passphrase"}
    if kind == "signin":
        return "/signin", {"email": email, "password": WRONG}
    return "/reset", {"email": email}


KINDS = ["signin", "signup", "reset"]


@pytest.mark.parametrize("kind", KINDS)
def test_many_addresses_against_one_account_run_out_its_budget(app, make, budget, kind):
    budget(kind)
    make.user(email=OWNER)
    for n in range(N):
        path, form = named_form(kind, SPELLINGS[n])
        assert browser(app, address(n)).post(path, data=form).status_code in (200, 303, 422)
    path, form = named_form(kind, SPELLINGS[N])
    assert_refused(browser(app, address(N)).post(path, data=form))

    # That new address is not spent: another account goes on from it.
    path, form = named_form(kind, "someone.else@example.com")
    assert browser(app, address(N)).post(path, data=form).status_code in (200, 303, 422)


@pytest.mark.parametrize("kind", KINDS)
def test_one_address_over_many_accounts_runs_out_its_budget(app, make, budget, kind):
    budget(kind)
    here = browser(app, address(0))
    for n in range(N):
        path, form = named_form(kind, f"target{n}@example.com")
        assert here.post(path, data=form).status_code in (200, 303, 422)
    path, form = named_form(kind, f"target{N}@example.com")
    assert_refused(here.post(path, data=form))

    # Those accounts are not spent: from another address the first goes on.
    path, form = named_form(kind, "target0@example.com")
    assert browser(app, address(1)).post(path, data=form).status_code in (200, 303, 422)


def test_reset_links_and_confirmation_mails_share_the_address_budget(app, make, budget):
    """Both mail the account's address: asking for one by /reset from elsewhere uses up
    the signed-in owner's "send the confirmation again", and the other way round."""
    budget("reset")
    owner = make.user(email=OWNER)
    session = app.test_client()
    Auth(session).login(owner)
    for n in range(N):
        assert (
            browser(app, address(n)).post("/reset", data={"email": SPELLINGS[n]}).status_code == 303
        )
    assert_refused(session.post("/verify/resend"))

    other = make.user(email="other@example.com")
    theirs = app.test_client()
    Auth(theirs).login(other)
    for _n in range(N):
        assert theirs.post("/verify/resend").status_code == 303
    assert_refused(browser(app, address(50)).post("/reset", data={"email": other.email}))


# -- two-factor: wrong codes per account over every route that asks for one --------------


def current_code(secret: str) -> str:
    return totp.code_at(secret, totp.current_step())


def prove_on(route: str, app, signed_in, proof: str):
    """A code (or the password, where it is accepted) given for the owner's account."""
    if route == "signin/code":
        pending = browser(app, address(40))
        assert (
            pending.post("/signin", data={"email": OWNER, "password": PASSWORD}).status_code == 303
        )
        return pending.post("/signin/code", data={"code": proof})
    return signed_in.post(f"/me/two-factor/{route}", data={"proof": proof})


TWO_FACTOR_ROUTES = ["signin/code", "disable", "recovery-codes"]


@pytest.mark.parametrize("spent", TWO_FACTOR_ROUTES)
def test_wrong_codes_on_one_route_use_up_the_others(app, make, budget, spent):
    budget("two_factor")
    owner = make.user(email=OWNER)
    session = app.test_client()
    Auth(session).login(owner)  # signed in first, then two-factor turned on
    secret = totp.new_secret()
    with app.app_context():
        person = db.session.get(User, owner.id)
        enable_two_factor(person, secret, totp.code_at(secret, totp.current_step() - 1))
        db.session.commit()

    wrong = [prove_on(spent, app, session, "000000") for _n in range(N)]
    assert [answer.status_code for answer in wrong] == [422] * N
    assert_refused(prove_on(spent, app, session, "000000"))
    for route in TWO_FACTOR_ROUTES:  # the right code or password is refused everywhere
        right = current_code(secret) if route == "signin/code" else PASSWORD
        assert_refused(prove_on(route, app, session, right))
    assert stored(app, owner).totp_secret is not None


def test_every_limit_is_one_count_over_its_routes(app):
    """A route given a limit of its own (limiter.limit) would count apart from the others:
    every limit on the site is one of the named ones, shared by the routes that carry it."""
    names = set(app.config["RATE_LIMITS"])
    with app.app_context():
        for endpoint, view in app.view_functions.items():
            for limit in limiter.limit_manager.decorated_limits(get_qualified_name(view)):
                assert limit.shared and limit.scope in names, endpoint


def test_a_body_too_large_to_read_leaves_the_limits_counting(app, make, budget):
    """The count per account reads the form; a sign-in too large to read (413) must not
    make the limiter take its store for broken, which would stop it counting anything."""
    budget("signin")
    guesser = browser(app, address(1))
    too_large = guesser.post("/signin", data={"email": "a" * 1_100_000, "password": WRONG})
    assert too_large.status_code == 413
    owner = make.user(email=OWNER)
    for n in range(N - 1):
        form = {"email": f"someone{n}@example.com", "password": WRONG}
        assert guesser.post("/signin", data=form).status_code == 422
    assert_refused(guesser.post("/signin", data={"email": owner.email, "password": WRONG}))


def test_right_passwords_do_not_use_up_the_accounts_count(app, make, budget):
    """Only wrong guesses count on the account: its owner signing in on several devices
    is never refused for it (each address still counts every attempt of its own)."""
    budget("signin")
    owner = make.user(email=OWNER)
    answers = [
        browser(app, address(n)).post("/signin", data={"email": OWNER, "password": PASSWORD})
        for n in range(N + 2)
    ]
    assert [answer.status_code for answer in answers] == [303] * (N + 2)
    assert stored(app, owner).deleted_at is None
