"""Privacy (issue 9): who voted is staff's to see unless a board makes it public; people
can delete their account, their votes go and every counter follows, their ideas and
comments stay under "Deleted user", and nothing of theirs signs in any more."""

from sqlalchemy import func

from conftest import PASSWORD
from portal.extensions import db
from portal.models import Comment, Idea, Merge, Role, Subscription, User, UserSession, Vote
from portal.operations.merges import merge_ideas, undo_merge
from portal.operations.tokens import create_token


def counters_match_votes() -> bool:
    sums = dict(
        db.session.execute(
            db.select(Vote.idea_id, func.sum(Vote.weight)).group_by(Vote.idea_id)
        ).all()
    )
    return all(
        idea.vote_count == sums.get(idea.id, 0) for idea in db.session.scalars(db.select(Idea))
    )


def test_deleting_takes_votes_back_and_keeps_ideas_and_comments_under_deleted_user(
    client, auth, make, app
):
    board = make.board("mobile", votes_per_user=5, max_votes_per_idea=3)
    leaving = make.user(name="Leaving Person", email="leaving@example.com")
    other = make.user(name="Staying Person")
    own = make.idea(board, leaving, title="An idea from someone who leaves")
    theirs = make.idea(board, other, title="Someone else's idea")
    auth.login(leaving)
    client.post(f"/ideas/{theirs}/vote", data={"action": "vote", "weight": "3"})
    client.post(f"/ideas/{own}/vote", data={"action": "vote", "weight": "1"})
    client.post(f"/ideas/{theirs}/comments", data={"body": "A comment that stays"})
    with app.app_context():
        token = create_token(db.session.get(User, leaving.id), "script")
        db.session.commit()

    page = client.get("/me/delete")
    assert page.status_code == 200 and "cannot be undone" in page.text
    answer = client.post("/me/delete", data={"password": PASSWORD}, follow_redirects=True)
    assert "Your account is deleted, and 2 votes taken back" in answer.text
    assert "Sign in" in answer.text  # signed out

    with app.app_context():
        assert db.session.scalar(db.select(func.count(Vote.id))) == 0
        assert counters_match_votes()
        assert db.session.scalar(db.select(func.count(Idea.id))) == 2
        assert db.session.scalar(db.select(func.count(Comment.id))) == 1
        assert not db.session.scalars(db.select(UserSession)).all()
        assert not db.session.scalars(db.select(Subscription).filter_by(user_id=leaving.id)).all()
    idea_page = client.get(f"/ideas/{own}").text
    assert "Deleted user" in idea_page and "Leaving Person" not in idea_page
    assert "A comment that stays" in client.get(f"/ideas/{theirs}").text
    # Nothing of theirs works any more; the address is free for a new account.
    assert (
        client.post(
            "/signin", data={"email": "leaving@example.com", "password": PASSWORD}
        ).status_code
        != 303
    )
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    signup = client.post("/signup", data={"name": "Back Again", "email": "leaving@example.com",
                                           "password": "a new password 123"})  # fmt: skip
    with app.app_context():
        assert (
            db.session.scalar(db.select(User).filter_by(email="leaving@example.com")).name
            == "Back Again"
        )
    assert signup.status_code == 303


def test_a_wrong_password_deletes_nothing(client, auth, make, app):
    person = make.user()
    auth.login(person)
    answer = client.post("/me/delete", data={"password": "not it"})
    assert answer.status_code == 422 and "That is not your password." in answer.text
    with app.app_context():
        assert db.session.get(User, person.id).deleted_at is None
    assert client.get("/me").status_code == 200


def test_the_only_admin_cannot_leave_the_site_without_one(client, auth, make, app):
    admin = make.user(Role.ADMIN)
    auth.login(admin)
    answer = client.post("/me/delete", data={"password": PASSWORD})
    assert "You are the only admin" in answer.text
    with app.app_context():
        assert db.session.get(User, admin.id).deleted_at is None
    make.user(Role.ADMIN)
    assert client.post("/me/delete", data={"password": PASSWORD}).status_code == 303


def test_visitors_are_asked_to_sign_in(client):
    assert client.get("/me/delete").status_code in (302, 303)
    assert client.post("/me/delete", data={"password": PASSWORD}).status_code in (302, 303)


def test_voter_lists_are_for_staff_unless_the_board_makes_them_public(client, auth, make, app):
    board = make.board("features")
    voter = make.user(name="Visible Voter")
    number = make.idea(board, make.user())
    auth.login(voter)
    client.post(f"/ideas/{number}/vote", data={"action": "vote"})
    assert "Who voted" not in client.get(f"/ideas/{number}").text
    assert client.get(f"/ideas/{number}/voters").status_code == 403
    auth.logout()
    assert client.get(f"/ideas/{number}/voters").status_code == 403

    auth.login(make.user(Role.MODERATOR))
    assert "Who voted" in client.get(f"/ideas/{number}").text
    listed = client.get(f"/ideas/{number}/voters")
    assert listed.status_code == 200 and "Visible Voter" in listed.text
    auth.logout()

    admin = make.user(Role.ADMIN)
    auth.login(admin)
    form = {"name": "Features", "description": "", "votes_per_user": "0",
            "max_votes_per_idea": "1", "voters_public": "1"}  # fmt: skip
    assert client.post("/admin/boards/features", data=form).status_code == 303
    auth.logout()
    public = client.get(f"/ideas/{number}/voters")
    assert public.status_code == 200 and "Visible Voter" in public.text
    assert "Who voted" in client.get(f"/ideas/{number}").text


def test_undoing_a_merge_gives_no_vote_back_to_a_deleted_account(client, auth, make, app):
    """A vote the merge could not move (no budget left on the original's board) comes back
    on undo, but not once its voter has deleted their account."""
    free = make.board("ideas")
    tight = make.board("mobile", votes_per_user=1)
    voter = make.user()
    duplicate = make.idea(free, make.user(), title="Offline mode please")
    original = make.idea(tight, make.user(), title="Offline mode")
    elsewhere = make.idea(tight, make.user(), title="Widgets")
    auth.login(voter)
    client.post(f"/ideas/{duplicate}/vote", data={"action": "vote"})
    client.post(f"/ideas/{elsewhere}/vote", data={"action": "vote"})  # the budget is spent
    moderator = make.user(Role.MODERATOR)
    with app.app_context():
        ideas = {i.number: i for i in db.session.scalars(db.select(Idea))}
        merge = merge_ideas(db.session.get(User, moderator.id), ideas[duplicate], ideas[original])
        db.session.commit()
        assert merge.record["dropped_votes"], "the vote had no room on the original's board"
        merge_id = merge.id
    assert client.post("/me/delete", data={"password": PASSWORD}).status_code == 303
    with app.app_context():
        undo_merge(db.session.get(User, moderator.id), db.session.get(Merge, merge_id))
        db.session.commit()
        assert db.session.scalar(db.select(func.count(Vote.id))) == 0
        assert counters_match_votes()
