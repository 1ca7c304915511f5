"""Voting: idempotent, weighted, budgeted, closed on finished ideas, full page and fragment."""

import pytest

from conftest import htmx_headers
from portal.extensions import db
from portal.models import Idea, Vote


def vote_count(app, number) -> tuple[int, int]:
    """The idea's stored count and the sum of its vote weights."""
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        total = sum(
            v.weight for v in db.session.scalars(db.select(Vote).filter_by(idea_id=idea.id))
        )
        return idea.vote_count, total


def test_vote_without_javascript_redirects_back(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user())
    response = client.post(f"/ideas/{number}/vote", data={"next": "/b/features"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/b/features"
    assert vote_count(app, number) == (1, 1)
    page = client.get("/b/features").text
    assert 'data-vote-count="1"' in page and "Voted" in page


def test_vote_with_htmx_returns_the_widget(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user())
    response = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert response.status_code == 200
    assert "<html" not in response.text
    assert f'id="vote-{number}"' in response.text
    assert 'data-vote-count="1"' in response.text
    assert "Unvote" in response.text


def test_voting_twice_is_one_vote_and_unvote_takes_it_back(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user())
    client.post(f"/ideas/{number}/vote")
    client.post(f"/ideas/{number}/vote")
    assert vote_count(app, number) == (1, 1)
    client.post(f"/ideas/{number}/vote", data={"action": "retract"})
    assert vote_count(app, number) == (0, 0)


def test_visitor_is_sent_to_sign_in(client, make, app):
    number = make.idea(make.board(), make.user())
    response = client.post(f"/ideas/{number}/vote")
    assert response.status_code == 303
    assert "/signin" in response.headers["Location"]
    assert vote_count(app, number) == (0, 0)
    htmx = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert "/signin" in htmx.headers["HX-Redirect"]


def test_weight_up_to_the_board_maximum(client, make, auth, app):
    number = make.idea(make.board(max_votes_per_idea=3), make.user())
    auth.login(make.user())
    client.post(f"/ideas/{number}/vote", data={"weight": "3"})
    assert vote_count(app, number) == (3, 3)
    response = client.post(f"/ideas/{number}/vote", data={"weight": "4"}, headers=htmx_headers())
    assert "weighs 1 to 3" in response.text
    assert vote_count(app, number) == (3, 3)


def test_budget_is_shown_and_enforced(client, make, auth, app):
    board = make.board(votes_per_user=2)
    author = make.user()
    first, second, third = (make.idea(board, author, f"Budget idea {n}") for n in range(3))
    auth.login(make.user())
    assert "2</strong> of 2 votes left in this board" in client.get("/b/features").text
    client.post(f"/ideas/{first}/vote")
    response = client.post(f"/ideas/{second}/vote", headers=htmx_headers())
    assert 'id="budget" hx-swap-oob="true"' in response.text
    assert "<strong>0</strong> of 2 votes left" in response.text
    refused = client.post(f"/ideas/{third}/vote", headers=htmx_headers())
    assert "no votes left" in refused.text
    assert vote_count(app, third) == (0, 0)


def test_closing_an_idea_releases_budget_votes_and_closes_voting(client, make, auth, app):
    board = make.board(votes_per_user=1)
    author = make.user()
    done = make.idea(board, author, "Will be completed")
    other = make.idea(board, author, "Another idea here")
    auth.login(make.user())
    client.post(f"/ideas/{done}/vote")
    with app.app_context():
        db.session.scalar(db.select(Idea).filter_by(number=done)).status = "completed"
        db.session.commit()
    page = client.get(f"/ideas/{done}").text
    assert "Voting closed" in page and 'data-vote-count="1"' in page
    client.post(f"/ideas/{other}/vote")
    assert vote_count(app, other) == (1, 1)
    assert vote_count(app, done) == (1, 1)
    refused = client.post(f"/ideas/{done}/vote", data={"action": "retract"})
    assert refused.status_code == 303
    assert vote_count(app, done) == (1, 1)


@pytest.mark.parametrize("status", ["completed", "declined", "duplicate"])
def test_closed_statuses_refuse_votes(client, make, auth, app, status):
    number = make.idea(make.board(), make.user(), status=status)
    auth.login(make.user())
    response = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert "Voting is closed" in response.text
    assert vote_count(app, number) == (0, 0)


def test_blocked_customer_cannot_vote(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user(is_blocked=True))
    response = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert "cannot vote" in response.text
    assert vote_count(app, number) == (0, 0)


def test_voting_subscribes_at_status_level(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user())
    client.post(f"/ideas/{number}/vote")
    assert "Following (status changes)" in client.get(f"/ideas/{number}").text
