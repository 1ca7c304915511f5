"""The review queue: flagged and held items and what moderators do with them (issue 5, 2)."""

from datetime import timedelta

import pytest

from conftest import htmx_headers
from portal.extensions import db
from portal.models import AuditEntry, Flag, Idea, Notification, Role, User, utcnow


def seasoned(make, **fields) -> User:
    return make.user(created_at=utcnow() - timedelta(days=2), **fields)


def flag_idea(client, auth, make, number, times=1, reason="spam"):
    for _ in range(times):
        auth.login(seasoned(make))
        client.post(f"/ideas/{number}/flags", data={"reason": reason})
        auth.logout()


def idea_row(app, number) -> Idea:
    with app.app_context():
        return db.session.scalar(db.select(Idea).filter_by(number=number))


def act(client, number, action, reason="", **headers):
    return client.post(f"/moderation/idea/{idea_id(client.application, number)}",
                       data={"action": action, "reason": reason}, headers=headers)  # fmt: skip


def idea_id(app, number) -> int:
    return idea_row(app, number).id


@pytest.mark.parametrize("role", [Role.CUSTOMER])
def test_customers_cannot_moderate(client, make, auth, role):
    number = make.idea(make.board(), make.user())
    auth.login(make.user(role))
    assert client.get("/moderation").status_code == 403
    assert act(client, number, "delete").status_code == 403


def test_the_queue_lists_most_flagged_first_and_held_posts(client, make, auth, app):
    board = make.board()
    once = make.idea(board, make.user(), "Flagged once")
    twice = make.idea(board, make.user(), "Flagged twice")
    make.idea(board, make.user(), "Waiting for approval", is_held=True)
    make.idea(board, make.user(), "Nobody minds this")
    flag_idea(client, auth, make, once)
    flag_idea(client, auth, make, twice, times=2)
    auth.login(make.user(Role.MODERATOR))
    page = client.get("/moderation").text
    assert page.index("Flagged twice") < page.index("Flagged once") < page.index("Waiting for")
    assert "Nobody minds this" not in page
    assert "2 flags" in page and "Spam or advertising" in page and "(1 idea, 0 comments" in page


def test_a_duplicate_hint_comes_from_search(client, make, auth, app):
    board = make.board()
    make.idea(board, make.user(), "Export reports as CSV")
    copy = make.idea(board, make.user(), "Export the reports as CSV files")
    flag_idea(client, auth, make, copy, reason="spam")
    auth.login(make.user(Role.MODERATOR))
    assert 'Possible duplicate of <a href="/ideas/1">#1</a>' in client.get("/moderation").text


def test_hiding_needs_a_reason_and_tells_the_author(client, make, auth, app):
    author = make.user()
    number = make.idea(make.board(), author, "Buy followers")
    flag_idea(client, auth, make, number)
    auth.login(make.user(Role.MODERATOR))
    refused = act(client, number, "hide", **htmx_headers())
    assert "Say which guideline it breaks" in refused.text and 'id="queue-idea-' in refused.text
    done = act(client, number, "hide", "Guideline 2: no advertising.", **htmx_headers())
    assert done.status_code == 200 and done.text == ""  # htmx removes it in place
    assert idea_row(app, number).is_hidden
    with app.app_context():
        notice = db.session.scalar(db.select(Notification).filter_by(user_id=author.id))
        assert "Guideline 2: no advertising." in notice.text
        assert db.session.scalar(db.select(Flag.resolved_at)) is not None
        assert db.session.scalar(db.select(AuditEntry).filter_by(action="idea.hide"))
    assert "Buy followers" not in client.get("/moderation").text


def test_dismissing_restores_what_the_flags_hid(client, make, auth, app):
    number = make.idea(make.board(), make.user(), "Unpopular but fine")
    flag_idea(client, auth, make, number, times=3)
    assert idea_row(app, number).is_hidden
    auth.login(make.user(Role.MODERATOR))
    act(client, number, "dismiss")
    assert not idea_row(app, number).is_hidden


def test_delete_and_restore(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user(Role.MODERATOR))
    act(client, number, "delete")
    assert idea_row(app, number).is_deleted
    act(client, number, "restore")
    assert not idea_row(app, number).is_deleted


def test_approving_held_posts_and_trusting_or_blocking_authors(client, make, auth, app):
    board = make.board()
    kind, rude = make.user(name="Kind"), make.user(name="Rude")
    first = make.idea(board, kind, "A helpful idea", is_held=True)
    spam = make.idea(board, rude, "Casino bonus", is_held=True)
    auth.login(make.user(Role.MODERATOR))
    act(client, first, "approve_trust")
    act(client, spam, "reject_block")
    assert not idea_row(app, first).is_held and idea_row(app, spam).is_deleted
    with app.app_context():
        assert db.session.get(User, kind.id).is_trusted
        assert db.session.get(User, rude.id).is_blocked
    refused = act(client, first, "approve", **htmx_headers())
    assert "Only posts waiting for approval can be approved." in refused.text
    auth.logout()
    auth.login(rude)  # blocked: reads, but writes no more
    answer = client.post(f"/ideas/{first}/comments", data={"body": "Still here!"})
    assert answer.status_code == 403 and "You cannot comment on this idea." in answer.text


def test_bulk_actions(client, make, auth, app):
    board = make.board()
    numbers = [make.idea(board, make.user(), f"Held {n}", is_held=True) for n in range(3)]
    auth.login(make.user(Role.MODERATOR))
    ids = [f"idea-{idea_id(app, n)}" for n in numbers[:2]]
    response = client.post("/moderation", data={"items": ids, "action": "approve"},
                           follow_redirects=True)  # fmt: skip
    assert "Approve: 2 items." in response.text
    assert [idea_row(app, n).is_held for n in numbers] == [False, False, True]


def test_moderators_hear_of_items_waiting_over_48_hours_once_a_day(client, make, auth, app):
    mona = make.user(Role.MODERATOR, name="Mona")
    make.idea(make.board(), make.user(), "Old held post", is_held=True,
              created_at=utcnow() - timedelta(hours=50))  # fmt: skip
    make.idea(make.board("other"), make.user(), "New held post", is_held=True)
    with app.app_context():
        from portal.worker import drain

        drain()
        drain()  # the next round does not repeat it
        notices = db.session.scalars(db.select(Notification).filter_by(user_id=mona.id)).all()
    assert [n.text for n in notices] == ["1 item in the review queue waited over 48 hours"]


def test_locking_comments_keeps_voting_open(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user(Role.MODERATOR))
    client.post(f"/moderation/ideas/{number}/lock", data={"locked": "1"})
    auth.logout()
    customer = make.user()
    auth.login(customer)
    page = client.get(f"/ideas/{number}").text
    assert "Comments are locked on this idea." in page
    assert client.post(f"/ideas/{number}/comments", data={"body": "Hello"}).status_code == 403
    assert client.post(f"/ideas/{number}/vote").status_code == 303  # voting stays open
    assert idea_row(app, number).vote_count == 1


def test_pinned_team_comments_lead_the_timeline(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user(name="Early Bird"))
    client.post(f"/ideas/{number}/comments", data={"body": "First!"})
    auth.logout()
    auth.login(make.user(Role.OWNER, name="Olga"))
    client.post(f"/ideas/{number}/comments", data={"body": "Read this first.", "kind": "official"})
    with app.app_context():
        from portal.models import Comment

        ids = dict(db.session.execute(db.select(Comment.body, Comment.id)).all())
    refused = client.post(f"/moderation/comments/{ids['First!']}/pin", data={"pinned": "1"},
                          follow_redirects=True)  # fmt: skip
    assert "Only comments by the team can be pinned." in refused.text
    client.post(f"/moderation/comments/{ids['Read this first.']}/pin", data={"pinned": "1"})
    page = client.get(f"/ideas/{number}").text
    assert page.index("Read this first.") < page.index("First!") and "Pinned" in page


def test_a_blocked_customer_stops_writing_on_every_session(client, make, auth, app):
    from conftest import Auth

    number = make.idea(make.board(), make.user())
    troll = make.user(name="Troll")
    other_device = app.test_client()
    Auth(other_device).login(troll)
    auth.login(make.user(Role.MODERATOR))
    client.post(f"/moderation/users/{troll.id}/block", data={"blocked": "1"})
    answer = other_device.post(f"/ideas/{number}/comments", data={"body": "Still me"})
    assert answer.status_code == 403
    assert other_device.get(f"/ideas/{number}").status_code == 200  # reading is fine
    client.post(f"/moderation/users/{troll.id}/block", data={"blocked": "0"})
    assert other_device.post(f"/ideas/{number}/comments", data={"body": "Sorry"}).status_code == 303
    with app.app_context():
        actions = set(db.session.scalars(db.select(AuditEntry.action)))
    assert {"user.block", "user.unblock"} <= actions


def test_staff_cannot_be_blocked(client, make, auth):
    owner = make.user(Role.OWNER)
    auth.login(make.user(Role.MODERATOR))
    answer = client.post(f"/moderation/users/{owner.id}/block", data={"blocked": "1"},
                         follow_redirects=True)  # fmt: skip
    assert "Staff are not blocked" in answer.text


def test_customers_cannot_lock_pin_or_block(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    owner = make.user(Role.OWNER)
    auth.login(owner)
    client.post(f"/ideas/{number}/comments", data={"body": "Team note", "kind": "official"})
    auth.logout()
    with app.app_context():
        from portal.models import Comment

        comment_id = db.session.scalar(db.select(Comment.id))
    auth.login(make.user())
    for path, data in [
        (f"/moderation/ideas/{number}/lock", {"locked": "1"}),
        (f"/moderation/comments/{comment_id}/pin", {"pinned": "1"}),
        (f"/moderation/users/{owner.id}/block", {"blocked": "1"}),
        ("/moderation", {"items": [f"idea-{idea_id(app, number)}"], "action": "delete"}),
    ]:
        assert client.post(path, data=data).status_code == 403, path
    assert not idea_row(app, number).comments_locked and not idea_row(app, number).is_deleted


def test_a_flagged_comment_is_hidden_from_the_queue(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    commenter = make.user(name="Rude Ray")
    auth.login(commenter)
    client.post(f"/ideas/{number}/comments", data={"body": "You are all idiots"})
    auth.logout()
    with app.app_context():
        from portal.models import Comment

        comment_id = db.session.scalar(db.select(Comment.id))
    auth.login(seasoned(make))
    client.post(f"/comments/{comment_id}/flags", data={"reason": "abuse"})
    auth.logout()
    auth.login(make.user(Role.MODERATOR))
    assert "You are all idiots" in client.get("/moderation").text
    client.post(f"/moderation/comment/{comment_id}",
                data={"action": "hide", "reason": "Guideline 1: be kind."})  # fmt: skip
    auth.logout()
    assert "You are all idiots" not in client.get(f"/ideas/{number}").text
    assert idea_row(app, number).comment_count == 0  # counts what people can read
    with app.app_context():
        notice = db.session.scalar(db.select(Notification).filter_by(user_id=commenter.id))
        assert notice.text.startswith("Your comment on") and "be kind" in notice.text
