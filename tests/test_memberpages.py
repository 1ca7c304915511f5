"""Signed-in board pages are filled in over one shared render (portal/memberpages.py), and
each person still sees exactly their own page: their votes, budget, name and tokens."""

import re

import pytest
from test_security import csrf_field, sign_in_with_token

from conftest import htmx_headers
from portal import create_app
from portal.extensions import db
from portal.models import Role

NONCE = re.compile(r'nonce="[^"]+"|nonce-[\w-]+')
TOKEN = re.compile(r'(name="csrf_token" value=|"X-CSRFToken": )"[^"]+"')


def normalised(html: str) -> str:
    """The page without what differs on every answer: the CSP nonce and the CSRF token."""
    return TOKEN.sub(r'\1"TOKEN"', NONCE.sub("NONCE", html))


@pytest.fixture
def strict_app(app, tmp_path):
    """Another process on the suite's database, with CSRF protection on."""
    strict = create_app(
        {
            "ENV": {"PORTAL_ENV": "development"},
            "INSTANCE_PATH": str(tmp_path / "strict"),
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "TESTING": True,
        }
    )
    yield strict
    with strict.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def world(app, make):
    """A budget board with weighted votes, three customers who voted differently."""
    board = make.board("mobile", votes_per_user=5, max_votes_per_idea=3)
    author = make.user(name="Author")
    numbers = [make.idea(board, author, title=f"Idea number {i}") for i in range(4)]
    people = {name: make.user(name=name) for name in ("Alice", "Bob", "Carol")}
    return numbers, people


def fetch(app, person, path, auth_client=None, **kwargs):
    client = auth_client or app.test_client()
    if auth_client is None:
        client.post("/signin", data={"email": person.email, "password": "correct horse battery"})
    answer = client.get(path, **kwargs)
    assert answer.status_code == 200
    return client, answer.text


@pytest.mark.parametrize("fragment", [False, True], ids=["page", "htmx"])
def test_a_page_from_the_shared_render_is_the_page_a_full_render_gives(app, world, fragment):
    numbers, people = world
    headers = htmx_headers() if fragment else {}
    alice, _ = fetch(app, people["Alice"], "/b/mobile")
    alice.post(f"/ideas/{numbers[0]}/vote", data={"action": "vote", "weight": "2"})
    bob, _ = fetch(app, people["Bob"], "/b/mobile")
    bob.post(f"/ideas/{numbers[1]}/vote", data={"action": "vote", "weight": "1"})
    carol, _ = fetch(app, people["Carol"], "/b/mobile")
    cache = app.extensions["pagecache"]
    for first in (alice, bob, carol):
        for then in (alice, bob, carol):
            cache.clear()
            full = then.get("/b/mobile", headers=headers).text  # rendered, and kept
            if first is not then:
                cache.clear()
                first.get("/b/mobile", headers=headers)  # kept with first's votes
            shared = then.get("/b/mobile", headers=headers).text
            assert normalised(shared) == normalised(full)
    assert "<!--slot" not in shared


def test_each_person_sees_their_own_votes_budget_and_name(app, world):
    numbers, people = world
    alice, _ = fetch(app, people["Alice"], "/b/mobile")
    bob, _ = fetch(app, people["Bob"], "/b/mobile")
    alice.post(f"/ideas/{numbers[2]}/vote", data={"action": "vote", "weight": "3"})
    alices = alice.get("/b/mobile").text  # rendered, and kept
    bobs = bob.get("/b/mobile").text  # filled in over Alice's
    assert "✓ Voted ×3" in alices and "<strong>2</strong> of 5 votes left" in alices
    assert "Alice" in alices and "Bob" not in alices
    assert "✓ Voted" not in bobs and "<strong>5</strong> of 5 votes left" in bobs
    assert "Bob" in bobs and "Alice" not in bobs


def test_the_token_on_a_shared_page_is_the_readers_own(app, strict_app, make, world):
    numbers, people = world
    first, second = strict_app.test_client(), strict_app.test_client()
    sign_in_with_token(first, people["Alice"])
    sign_in_with_token(second, people["Bob"])
    first.get("/b/mobile")
    page = second.get("/b/mobile").text  # from the render kept for Alice
    vote = second.post(
        f"/ideas/{numbers[3]}/vote",
        data={"action": "vote", "weight": "1", "csrf_token": csrf_field(page)},
        headers=htmx_headers(),
    )
    assert vote.status_code == 200 and "✓ Voted" in vote.text


def test_a_private_board_kept_for_staff_is_still_hidden_from_customers(app, make):
    board = make.board("internal", is_private=True)
    make.idea(board, make.user(), title="Staff only plan")
    staff, _ = fetch(app, make.user(Role.MODERATOR), "/b/internal")
    customer = app.test_client()
    customer.post("/signin", data={"email": make.user().email, "password": "correct horse battery"})
    assert customer.get("/b/internal").status_code == 404
    assert "Staff only plan" not in customer.get("/b/internal").text


def test_staff_links_stay_with_staff(app, world, make):
    moderator, page = fetch(app, make.user(Role.MODERATOR), "/b/mobile")
    _, customers = fetch(app, world[1]["Carol"], "/b/mobile")
    assert ">Review</a>" in page and ">Review</a>" not in customers
