"""Voting: idempotent, weighted, budgeted, closed on finished ideas, full page and fragment."""

import random
import re

import pytest
from sqlalchemy import event, func

from conftest import htmx_headers
from portal.extensions import db
from portal.models import CustomStatus, Idea, Subscription, User, Vote, trending_score
from portal.operations import OperationError
from portal.operations.votes import cast_vote, retract_vote, votes_left
from portal.views import public


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
    assert "✓ Voted" in response.text and "Remove vote</button>" in response.text


def widget(client, number, page=None) -> dict:
    """What the idea's vote widget shows: its mark, its weight and its buttons' words."""
    html = client.get(page or f"/ideas/{number}").text
    form = re.search(rf'<form class="vote[^"]*"\s+id="vote-{number}".*?</form>', html, re.S)
    assert form, html
    form = form.group(0)
    mark = re.search(r'<span class="(?:voted-mark|vote-closed)">([^<]*)</span>', form)
    weight = re.search(r'<option value="(\d+)" selected>', form)
    return {
        "mark": mark.group(1) if mark else None,
        "weight": weight.group(1) if weight else None,
        "buttons": {
            text: action
            for action, text in re.findall(
                r'<button type="submit" name="action" value="(\w+)"[^>]*>([^<]*)</button>', form
            )
        },
    }


def press(client, number, text, **form):
    """Press the widget's button with these words, as the browser would send it."""
    action = widget(client, number)["buttons"][text]
    return client.post(f"/ideas/{number}/vote", data={"action": action, **form})


def test_each_state_of_the_widget_says_what_its_button_does(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    assert widget(client, number) == {"mark": None, "weight": None, "buttons": {"Vote": "vote"}}
    auth.login(make.user())
    assert widget(client, number) == {"mark": None, "weight": None, "buttons": {"Vote": "vote"}}

    press(client, number, "Vote")
    assert vote_count(app, number) == (1, 1)
    assert widget(client, number) == {
        "mark": "✓ Voted",
        "weight": None,
        "buttons": {"Remove vote": "retract"},
    }
    assert widget(client, number, "/b/features")["buttons"] == {"Remove vote": "retract"}

    press(client, number, "Remove vote")
    assert vote_count(app, number) == (0, 0)
    assert widget(client, number)["buttons"] == {"Vote": "vote"}


def test_a_weighted_vote_shows_its_weight_with_change_and_remove(client, make, auth, app):
    number = make.idea(make.board(votes_per_user=5, max_votes_per_idea=3), make.user())
    auth.login(make.user())
    assert widget(client, number) == {"mark": None, "weight": "1", "buttons": {"Vote": "vote"}}

    press(client, number, "Vote", weight="2")
    assert vote_count(app, number) == (2, 2)
    assert widget(client, number) == {
        "mark": "✓ Voted ×2",
        "weight": "2",
        "buttons": {"Change": "vote", "Remove vote": "retract"},
    }
    assert "<strong>3</strong> of 5 votes left" in client.get("/b/features").text

    press(client, number, "Change", weight="3")
    assert vote_count(app, number) == (3, 3)
    assert widget(client, number)["mark"] == "✓ Voted ×3"

    press(client, number, "Remove vote", weight="3")
    assert vote_count(app, number) == (0, 0)
    assert widget(client, number) == {"mark": None, "weight": "1", "buttons": {"Vote": "vote"}}


def test_the_weight_has_a_visible_label(client, make, auth):
    number = make.idea(make.board(max_votes_per_idea=3), make.user())
    auth.login(make.user())
    html = client.get(f"/ideas/{number}").text
    assert re.search(r'<label class="weight">Weight\s*<select name="weight">', html)


@pytest.mark.parametrize("signed_in", [True, False])
def test_a_closed_idea_shows_no_button(client, make, auth, signed_in):
    number = make.idea(make.board(max_votes_per_idea=3), make.user(), status="completed")
    if signed_in:
        auth.login(make.user())
    assert widget(client, number) == {"mark": "Voting closed", "weight": None, "buttons": {}}


def test_the_htmx_answer_is_the_widget_in_its_new_state(client, make, auth):
    number = make.idea(make.board(), make.user())
    auth.login(make.user())
    voted = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert "Remove vote</button>" in voted.text and ">Vote</button>" not in voted.text
    assert 'data-announce="Your vote is counted: 1 vote in all."' in voted.text
    taken_back = client.post(
        f"/ideas/{number}/vote", data={"action": "retract"}, headers=htmx_headers()
    )
    assert ">Vote</button>" in taken_back.text and "Remove vote" not in taken_back.text
    assert "✓ Voted" not in taken_back.text
    assert 'data-announce="Your vote is taken back: 0 votes in all."' in taken_back.text


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


# -- a vote is a few statements under the write lock, answered from what it wrote ----------


def someone_acts_after_the_idea_is_read(monkeypatch, app, act):
    """Run act(idea_id) in its own session, committed, right after the vote view has read the
    idea and before its operation locks: another request that got there first."""
    read = public.get_idea

    def get_idea_then_act(number):
        idea = read(number)
        with app.app_context():
            act(idea.id)
            db.session.commit()
        return idea

    monkeypatch.setattr(public, "get_idea", get_idea_then_act)


def test_the_answer_counts_a_vote_cast_while_the_idea_was_read(
    client, make, auth, app, monkeypatch
):
    number = make.idea(make.board(), make.user())
    other = make.user()
    auth.login(make.user())

    def other_votes(idea_id):
        cast_vote(db.session.get(User, other.id), db.session.get(Idea, idea_id))

    someone_acts_after_the_idea_is_read(monkeypatch, app, other_votes)
    response = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert 'data-vote-count="2"' in response.text and "Remove vote</button>" in response.text
    assert vote_count(app, number) == (2, 2)


def test_a_block_between_reading_and_voting_is_respected(client, make, auth, app, monkeypatch):
    number = make.idea(make.board(), make.user())
    voter = make.user()
    auth.login(voter)

    def block(_idea_id):
        db.session.get(User, voter.id).is_blocked = True

    someone_acts_after_the_idea_is_read(monkeypatch, app, block)
    response = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert "cannot vote" in response.text
    assert vote_count(app, number) == (0, 0)


@pytest.mark.parametrize("status", ["completed", "shipped"])
def test_an_idea_closed_between_reading_and_voting_refuses(
    client, make, auth, app, monkeypatch, status
):
    number = make.idea(make.board(), make.user())
    with app.app_context():  # an admin's own status in a phase without voting
        db.session.add(CustomStatus(slug="shipped", label="Shipped", colour="#1a7f37",
                                    phase="done"))  # fmt: skip
        db.session.commit()
    auth.login(make.user())

    def close(idea_id):
        db.session.get(Idea, idea_id).status = status

    someone_acts_after_the_idea_is_read(monkeypatch, app, close)
    response = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert f"Voting is closed on ideas that are {status}" in response.text  # labels match
    assert "Voting closed" in response.text  # the widget shows the idea as it is now
    assert vote_count(app, number) == (0, 0)


def test_a_custom_status_in_a_closed_phase_closes_voting(client, make, auth, app):
    with app.app_context():
        db.session.add(CustomStatus(slug="shipped", label="Shipped", colour="#1a7f37",
                                    phase="done"))  # fmt: skip
        db.session.commit()
    number = make.idea(make.board(), make.user(), status="shipped")
    auth.login(make.user())
    response = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    assert "Voting is closed on ideas that are shipped" in response.text
    assert vote_count(app, number) == (0, 0)


def test_a_vote_answer_reads_nothing_back_after_the_commit(client, make, auth, app):
    number = make.idea(make.board(votes_per_user=3), make.user())
    auth.login(make.user())
    client.get(f"/ideas/{number}")  # the session's CSRF token exists already
    seen = []
    with app.app_context():
        engine = db.engine

    def statement(conn, cursor, sql, parameters, context, executemany):
        seen.append(sql.lstrip().split()[0].upper())

    def commit(conn):
        seen.append("COMMITTED")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        response = client.post(f"/ideas/{number}/vote", headers=htmx_headers())
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    assert 'data-vote-count="1"' in response.text and "<strong>2</strong> of 3" in response.text
    assert "COMMITTED" in seen
    after = seen[len(seen) - seen[::-1].index("COMMITTED") :]
    assert "SELECT" not in after, seen


def test_voting_never_undoes_an_unsubscribe_or_lowers_a_level(client, make, auth, app):
    board = make.board()
    muted, followed = make.idea(board, make.user()), make.idea(board, make.user(), "Other idea")
    voter = make.user()
    auth.login(voter)
    client.post(f"/ideas/{muted}/subscription", data={"level": ""})
    client.post(f"/ideas/{followed}/subscription", data={"level": "all"})
    for number in (muted, followed, muted, followed):
        client.post(f"/ideas/{number}/vote", headers=htmx_headers())
        client.post(f"/ideas/{number}/vote", data={"action": "retract"})
        client.post(f"/ideas/{number}/vote")
    with app.app_context():
        kept = {
            db.session.scalar(db.select(Idea.number).filter_by(id=s.idea_id)): (s.level, s.muted)
            for s in db.session.scalars(db.select(Subscription).filter_by(user_id=voter.id))
        }
    assert kept == {muted: ("status", True), followed: ("all", False)}
    assert vote_count(app, muted) == vote_count(app, followed) == (1, 1)


def test_count_trending_and_budget_stay_right_through_many_changes(ctx, make):
    board_id = make.board(max_votes_per_idea=3, votes_per_user=7)
    author = make.user()
    numbers = [make.idea(board_id, author, f"Weighted idea {n}") for n in range(3)]
    voters = [make.user() for _ in range(4)]
    rng = random.Random(7)
    for step in range(120):
        voter = db.session.get(User, rng.choice(voters).id)
        idea = db.session.scalar(db.select(Idea).filter_by(number=rng.choice(numbers)))
        try:
            if rng.random() < 0.3:
                state = retract_vote(voter, idea)
            else:
                state = cast_vote(voter, idea, rng.randint(1, 3))
            db.session.commit()
        except OperationError:  # over budget: nothing changed
            db.session.rollback()
            continue
        total = db.session.scalar(
            db.select(func.coalesce(func.sum(Vote.weight), 0)).filter_by(idea_id=idea.id)
        )
        db.session.refresh(idea)
        assert state.vote_count == idea.vote_count == total, step
        assert idea.trending == trending_score(total, idea.comment_count, idea.created_at)
        assert state.votes_left == votes_left(voter, idea.board), step
