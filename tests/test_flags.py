"""Flags on ideas and comments (issue 5, point 1, and the hiding threshold of point 2)."""

from datetime import timedelta

import pytest

from conftest import htmx_headers
from portal.extensions import db
from portal.models import Comment, Flag, Idea, User, Vote, utcnow
from portal.operations.flags import hide_threshold


def seasoned(make, **fields) -> User:
    """A customer whose account is older than an hour."""
    return make.user(created_at=utcnow() - timedelta(days=2), **fields)


def flags(app) -> list[Flag]:
    with app.app_context():
        return db.session.scalars(db.select(Flag)).all()


def is_hidden(app, number) -> bool:
    with app.app_context():
        return db.session.scalar(db.select(Idea.is_hidden).filter_by(number=number))


@pytest.mark.parametrize(
    ("data", "stored"),
    [
        ({"reason": "spam"}, ("spam", None, "")),
        ({"reason": "duplicate", "duplicate_of": "#1"}, ("duplicate", 1, "")),
        ({"reason": "other", "note": "Rude title."}, ("other", None, "Rude title.")),
    ],
)
def test_a_flag_carries_its_reason(client, make, auth, app, data, stored):
    board, author = make.board(), make.user()
    make.idea(board, author, "Export reports as CSV")
    number = make.idea(board, author, "CSV export please")
    auth.login(seasoned(make))
    response = client.post(f"/ideas/{number}/flags", data=data)
    assert response.status_code == 303
    assert "A moderator will look at it." in client.get(response.headers["Location"]).text
    (flag,) = flags(app)
    assert (flag.reason, flag.duplicate_of, flag.note) == stored


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason": "nonsense"}, "Choose a reason."),
        ({"reason": "other"}, "Tell the moderators what is wrong."),
        ({"reason": "duplicate", "duplicate_of": "99"}, "Give the number of the original idea."),
        ({"reason": "duplicate", "duplicate_of": "1"}, "Give the number of the original idea."),
    ],
)
def test_bad_flags_are_refused_clearly(client, make, auth, app, data, message):
    number = make.idea(make.board(), make.user())  # number 1: not a duplicate of itself
    auth.login(seasoned(make))
    answer = client.post(f"/ideas/{number}/flags", data=data, headers=htmx_headers())
    assert message in answer.text and "<html" not in answer.text
    assert flags(app) == []


def test_one_flag_per_person_and_not_in_the_first_hour(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user(created_at=utcnow()))  # created just now
    young = client.post(f"/ideas/{number}/flags", data={"reason": "spam"}, follow_redirects=True)
    assert "New accounts can flag after their first hour." in young.text
    auth.logout()
    auth.login(seasoned(make))
    client.post(f"/ideas/{number}/flags", data={"reason": "spam"})
    again = client.post(f"/ideas/{number}/flags", data={"reason": "abuse"}, follow_redirects=True)
    assert "You have already flagged this." in again.text
    assert len(flags(app)) == 1


def test_comments_can_be_flagged_with_htmx(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    commenter = make.user()
    auth.login(commenter)
    client.post(f"/ideas/{number}/comments", data={"body": "Buy cheap pills at example.com"})
    auth.logout()
    auth.login(seasoned(make))
    with app.app_context():
        comment_id = db.session.scalar(db.select(Comment.id))
    page = client.get(f"/ideas/{number}").text
    assert f'action="/comments/{comment_id}/flags"' in page
    answer = client.post(f"/comments/{comment_id}/flags", data={"reason": "spam"},
                         headers=htmx_headers())  # fmt: skip
    assert answer.text.strip().startswith('<p class="flagged"')
    (flag,) = flags(app)
    assert flag.comment_id == comment_id and flag.idea_id is None


def test_the_threshold_grows_with_support():
    assert [hide_threshold(n) for n in (0, 10, 30, 31, 100, 250)] == [3, 3, 3, 3, 10, 25]


def test_enough_flags_hide_an_idea_pending_review(client, make, auth, app):
    board = make.board()
    number = make.idea(board, make.user(), "Buy followers cheap")
    popular = make.idea(board, make.user(), "Dark mode")
    voters = [seasoned(make) for _ in range(40)]
    with app.app_context():
        target = db.session.scalar(db.select(Idea.id).filter_by(number=popular))
        db.session.add_all(Vote(user_id=v.id, idea_id=target, weight=1) for v in voters)
        db.session.commit()
    for n in range(3):
        auth.login(seasoned(make))
        client.post(f"/ideas/{number}/flags", data={"reason": "spam"})
        client.post(f"/ideas/{popular}/flags", data={"reason": "off_topic"})
        auth.logout()
        assert is_hidden(app, number) == (n == 2)  # the third flag hides it
    assert not is_hidden(app, popular)  # 40 voters: it takes 4 flags
    assert client.get(f"/ideas/{number}").status_code == 404  # pending review
    auth.login(seasoned(make))
    client.post(f"/ideas/{popular}/flags", data={"reason": "off_topic"})
    assert is_hidden(app, popular)
