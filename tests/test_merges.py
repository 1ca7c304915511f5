"""Merging duplicates and undoing it exactly (SPEC section 3, issue 5 point 3)."""

import pytest

from portal.extensions import db
from portal.models import Idea, Notification, Role, Subscription, Vote


@pytest.fixture
def pair(make, app):
    """A duplicate (A) and its original (B) with overlapping voters of different weights."""
    board = make.board(max_votes_per_idea=3)
    author = make.user(name="Ann")
    a = make.idea(board, author, "CSV export please")
    b = make.idea(board, make.user(name="Ben"), "Export reports as CSV")
    voters = {name: make.user(name=name) for name in ("only_a", "both_light", "both_heavy", "b")}
    weights = {  # voter -> (weight on A, weight on B)
        "only_a": (2, None),
        "both_light": (1, 3),  # keeps 3 on B
        "both_heavy": (3, 1),  # gets 3 on B
        "b": (None, 2),
    }
    with app.app_context():
        ideas = {n: db.session.scalar(db.select(Idea).filter_by(number=n)) for n in (a, b)}
        for name, (on_a, on_b) in weights.items():
            for number, weight in ((a, on_a), (b, on_b)):
                if weight:
                    idea = ideas[number]
                    db.session.add(Vote(user_id=voters[name].id, idea_id=idea.id, weight=weight))
                    idea.vote_count += weight
                    db.session.add(Subscription(user_id=voters[name].id, idea_id=idea.id))
        db.session.commit()
    return a, b, voters


def votes(app, number) -> dict[int, int]:
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        return dict(db.session.execute(
            db.select(Vote.user_id, Vote.weight).filter_by(idea_id=idea.id)).all())  # fmt: skip


def counts_match(app, *numbers) -> bool:
    """vote_count equals the sum of the idea's vote weights."""
    totals = {number: sum(votes(app, number).values()) for number in numbers}
    with app.app_context():
        counts = {
            number: db.session.scalar(db.select(Idea.vote_count).filter_by(number=number))
            for number in numbers
        }
    return counts == totals


def followers(app, number) -> set[int]:
    with app.app_context():
        idea_id = db.session.scalar(db.select(Idea.id).filter_by(number=number))
        return set(db.session.scalars(
            db.select(Subscription.user_id).filter_by(idea_id=idea_id, muted=False)))  # fmt: skip


def test_merge_moves_votes_and_followers_and_undo_puts_them_back(client, make, auth, app, pair):
    a, b, voters = pair
    before = (votes(app, a), votes(app, b), followers(app, a), followers(app, b))
    assert counts_match(app, a, b)

    auth.login(make.user(Role.MODERATOR))
    response = client.post(f"/ideas/{a}/merge", data={"into": f"#{b}"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/ideas/{b}")
    v = {name: user.id for name, user in voters.items()}
    assert votes(app, a) == {}
    assert votes(app, b) == {v["only_a"]: 2, v["both_light"]: 3, v["both_heavy"]: 3, v["b"]: 2}
    assert counts_match(app, a, b)
    assert followers(app, b) >= {v["only_a"], v["both_light"], v["both_heavy"], v["b"]}
    assert client.get(f"/ideas/{a}").status_code == 302  # the duplicate redirects, not for good
    with app.app_context():
        assert db.session.scalar(db.select(Idea.status).filter_by(number=a)) == "duplicate"

    page = client.get(f"/ideas/{b}").text
    assert "Merged here: #1" in page
    with app.app_context():
        from portal.models import Merge

        merge_id = db.session.scalar(db.select(Merge.id))
    assert client.post(f"/merges/{merge_id}/undo").status_code == 303
    after = (votes(app, a), votes(app, b), followers(app, a), followers(app, b))
    assert after == before
    assert counts_match(app, a, b)
    with app.app_context():
        assert db.session.scalar(db.select(Idea.status).filter_by(number=a)) == "open"
    again = client.post(f"/merges/{merge_id}/undo", follow_redirects=True)
    assert "This merge was already undone." in again.text


def test_followers_of_the_duplicate_are_told(client, make, auth, app, pair):
    a, b, voters = pair
    auth.login(make.user(Role.MODERATOR))
    client.post(f"/ideas/{a}/merge", data={"into": str(b)})
    with app.app_context():
        from portal.worker import drain

        drain()
        merged = Notification.text.like("%was merged into%")
        told = set(db.session.scalars(db.select(Notification.user_id).where(merged)))
    assert {voters["only_a"].id, voters["both_light"].id} <= told
    assert voters["b"].id not in told  # followed only the original


@pytest.mark.parametrize(
    ("into", "message"),
    [("1", "An idea cannot be merged into itself."), ("99", "Give the number of the original")],
)
def test_bad_merges_are_refused(client, make, auth, app, into, message):
    number = make.idea(make.board(), make.user())
    auth.login(make.user(Role.MODERATOR))
    answer = client.post(f"/ideas/{number}/merge", data={"into": into}, follow_redirects=True)
    assert message in answer.text


def test_customers_and_visitors_cannot_merge(client, make, auth, app):
    board = make.board()
    a, b = make.idea(board, make.user()), make.idea(board, make.user(), "Other")
    assert client.post(f"/ideas/{a}/merge", data={"into": str(b)}).status_code == 303  # sign in
    auth.login(make.user())
    assert client.post(f"/ideas/{a}/merge", data={"into": str(b)}).status_code == 403
    with app.app_context():
        assert db.session.scalar(db.select(Idea.status).filter_by(number=a)) == "open"


def test_a_public_idea_is_not_merged_into_one_on_a_private_board(client, make, auth, app):
    """Its voters and followers would move to an idea they may not see."""
    duplicate = make.idea(make.board(), make.user(), "Public duplicate")
    original = make.idea(make.board("staff-only", is_private=True), make.user(), "Staff idea")
    auth.login(make.user(Role.MODERATOR))
    answer = client.post(f"/ideas/{duplicate}/merge", data={"into": str(original)},
                         follow_redirects=True)  # fmt: skip
    assert "is on a private board: a public idea cannot be merged into it" in answer.text
    with app.app_context():
        assert db.session.scalar(db.select(Idea.status).filter_by(number=duplicate)) == "open"
