"""Visibility is checked when something is delivered, not when it was subscribed to: a
notice, a mail, a digest line, a queued mail and every list about an idea reach only
people who may see that idea now (issue 18, points 1 and 6)."""

import re
from datetime import timedelta
from itertools import product

import pytest
from flask_login import AnonymousUserMixin
from sqlalchemy import event, true

from conftest import Mailbox, free_port, vote_for
from portal.extensions import db
from portal.models import (
    Board,
    Comment,
    Idea,
    Notification,
    OutboxMessage,
    Role,
    Subscription,
    User,
    utcnow,
)
from portal.notifications import queue_digests
from portal.operations.status import change_status
from portal.worker import drain

ANSWER = "Official: we ship it in March."


@pytest.fixture
def people(make):
    """The product team and a customer, each able to sign in."""
    return {
        "admin": make.user(Role.ADMIN, name="Adam Admin"),
        "owner": make.user(Role.OWNER, name="Olga Owner"),
        "moderator": make.user(Role.MODERATOR, name="Moritz Moderator"),
        "customer": make.user(name="Carla Customer"),
    }


def signed_in(auth, user):
    auth.logout()
    auth.login(user)


def idea_of(app, number) -> Idea:
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        db.session.expunge(idea)
        return idea


def answer(client, number, body=ANSWER):
    response = client.post(f"/ideas/{number}/comments", data={"body": body, "kind": "official"})
    assert response.status_code == 303, response.text


def change(client, number, status, response=ANSWER):
    answered = client.post(f"/ideas/{number}/status", data={"status": status, "response": response})
    assert answered.status_code == 303, answered.text


def demote(client, user):
    response = client.post(f"/admin/users/{user.id}/role", data={"role": int(Role.CUSTOMER)})
    assert response.status_code == 303


def make_private(client, slug, **fields):
    """An admin ticks "private" on the board's page (the rest of its form as it was)."""
    form = {"name": "Features", "is_private": "1", **fields}
    response = client.post(f"/admin/boards/{slug}", data=form)
    assert response.status_code == 303, response.text


def moderate(client, app, number, action):
    idea = idea_of(app, number)
    response = client.post(
        f"/moderation/idea/{idea.id}", data={"action": action, "reason": "Off topic."}
    )
    assert response.status_code == 303


def hold(app, number):
    """Back in the review queue, as an edit on a held-for-review board puts it."""
    with app.app_context():
        db.session.execute(db.update(Idea).filter_by(number=number).values(is_held=True))
        db.session.commit()


def notice_texts(app, user) -> list[str]:
    with app.app_context():
        return db.session.scalars(db.select(Notification.text).filter_by(user_id=user.id)).all()


def delivered(mailbox) -> dict[str, list[str]]:
    """Run the worker: fan out, then send what that queued; the mails' text by recipient."""
    mails = {}
    for message in mailbox.receive() + mailbox.receive():
        body = message.get_body(preferencelist=("plain",)).get_content()
        mails.setdefault(message["To"], []).append(body)
    return mails


# -- notices and mails at the moment the worker fans out ----------------------------------


def test_a_demoted_moderator_hears_nothing_more_of_a_private_boards_idea(
    client, make, auth, app, mailbox, people
):
    board = make.board(is_private=True)
    number = make.idea(board, people["owner"], "Internal roadmap for Q3")
    colleague = make.user(Role.MODERATOR, name="Still Staff")
    for follower in (people["moderator"], colleague):
        signed_in(auth, follower)
        client.post(f"/ideas/{number}/subscription", data={"level": "all"})
    signed_in(auth, people["admin"])
    demote(client, people["moderator"])
    signed_in(auth, people["owner"])
    answer(client, number)

    mails = delivered(mailbox)
    assert ANSWER in mails[colleague.email][0]  # the answer went out ...
    assert people["moderator"].email not in mails  # ... but not to the one demoted
    assert notice_texts(app, people["moderator"]) == []
    assert notice_texts(app, colleague) == ["Olga Owner answered “Internal roadmap for Q3”"]


def test_a_board_made_private_after_a_vote_takes_its_news_along(
    client, make, auth, app, mailbox, people
):
    make.board()
    number = make.idea(1, make.user(name="Ada Author"), "Dark mode")
    vote_for(app, number, people["customer"], people["moderator"])
    signed_in(auth, people["admin"])
    make_private(client, "features")
    signed_in(auth, people["owner"])
    change(client, number, "planned")

    mails = delivered(mailbox)
    assert list(mails) == [people["moderator"].email]  # not the customer, nor the author
    assert ANSWER in mails[people["moderator"].email][0]
    assert notice_texts(app, people["customer"]) == []
    assert notice_texts(app, people["moderator"]) == ["“Dark mode” is now Planned"]


@pytest.mark.parametrize("state", ["hidden", "deleted", "held"])
def test_hidden_deleted_and_held_ideas_tell_only_who_may_still_see_them(
    client, make, auth, app, mailbox, people, state
):
    author = make.user(name="Ada Author")
    number = make.idea(make.board(), author, "Dark mode")
    vote_for(app, number, people["customer"], people["moderator"])
    signed_in(auth, people["moderator"])
    if state == "held":
        hold(app, number)
    else:
        moderate(client, app, number, "hide" if state == "hidden" else "delete")
    signed_in(auth, people["owner"])
    change(client, number, "planned")

    mails = delivered(mailbox)
    # Staff see every idea; the author still sees their own idea while it waits for review.
    told = {people["moderator"].email} | ({author.email} if state == "held" else set())
    assert set(mails) == told
    assert notice_texts(app, people["customer"]) == []
    assert (notice_texts(app, author) == ["“Dark mode” is now Planned"]) == (state == "held")


def test_an_answer_queued_before_the_idea_was_hidden_is_not_fanned_out(
    client, make, auth, app, mailbox, people
):
    number = make.idea(make.board(), make.user(name="Ada Author"), "Dark mode")
    vote_for(app, number, people["customer"])
    signed_in(auth, people["owner"])
    answer(client, number)  # the worker has not run yet ...
    signed_in(auth, people["moderator"])
    moderate(client, app, number, "hide")  # ... when a moderator hides the idea

    assert people["customer"].email not in delivered(mailbox)
    assert notice_texts(app, people["customer"]) == []


def test_a_merge_into_an_idea_the_follower_cannot_see_is_not_announced(
    client, make, auth, app, mailbox, people
):
    make.board()
    private = make.board("internal", is_private=True)
    duplicate = make.idea(1, make.user(name="Ada Author"), "Dark mode please")
    original = make.idea(private, people["owner"], "Dark mode")
    vote_for(app, duplicate, people["customer"])
    signed_in(auth, people["moderator"])
    merged = client.post(f"/ideas/{duplicate}/merge", data={"into": str(original)})
    assert merged.status_code == 303

    assert people["customer"].email not in delivered(mailbox)
    assert notice_texts(app, people["customer"]) == []


def test_votes_back_from_an_idea_on_a_board_made_private_are_not_announced(
    client, make, auth, app, mailbox, people
):
    make.board(votes_per_user=5)
    number = make.idea(1, make.user(name="Ada Author"), "Dark mode")
    vote_for(app, number, people["customer"], people["moderator"])
    signed_in(auth, people["admin"])
    make_private(client, "features", votes_per_user="5")
    signed_in(auth, people["owner"])
    change(client, number, "declined", "Not for us.")
    delivered(mailbox)

    assert notice_texts(app, people["customer"]) == []
    assert "Your vote is back from “Dark mode”: use it again in Features" in notice_texts(
        app, people["moderator"]
    )


def test_votes_kept_elsewhere_are_not_announced_to_a_demoted_moderator(
    client, make, auth, app, people
):
    board = make.board(is_private=True, votes_per_user=2)
    reopened, *others = (
        make.idea(board, people["owner"], t) for t in ("Dark mode", "Themes", "Fonts")
    )
    colleague = make.user(Role.MODERATOR, name="Still Staff")
    vote_for(app, reopened, people["moderator"], colleague)
    signed_in(auth, people["owner"])
    change(client, reopened, "completed", "Shipped.")
    vote_for(app, others[0], people["moderator"], colleague)  # the returned votes, spent
    vote_for(app, others[1], people["moderator"], colleague)
    signed_in(auth, people["admin"])
    demote(client, people["moderator"])
    signed_in(auth, people["owner"])
    change(client, reopened, "planned", "Reopened.")

    kept = "“Dark mode” is open for votes again, but 1 of your votes stays"
    assert any(text.startswith(kept) for text in notice_texts(app, colleague))
    assert not any(text.startswith(kept) for text in notice_texts(app, people["moderator"]))


# -- weekly digests ------------------------------------------------------------------------


def test_a_digest_leaves_out_lines_about_ideas_hidden_since(
    client, make, auth, app, mailbox, people
):
    board = make.board()
    kept = make.idea(board, make.user(name="Ada"), "Dark mode")
    hidden = make.idea(board, make.user(name="Bea"), "Spam in disguise")
    both = make.user(name="Wanda Weekly", email_frequency="weekly")
    only_hidden = make.user(name="Walter Weekly", email_frequency="weekly")
    vote_for(app, kept, both)
    vote_for(app, hidden, both, only_hidden)
    signed_in(auth, people["owner"])
    change(client, kept, "planned")
    change(client, hidden, "planned")
    delivered(mailbox)
    signed_in(auth, people["moderator"])
    moderate(client, app, hidden, "hide")
    with app.app_context():  # a week passes
        for user in (both, only_hidden):
            db.session.get(User, user.id).digest_sent_at = utcnow() - timedelta(days=8)
        db.session.execute(db.update(Notification).values(created_at=utcnow() - timedelta(days=1)))
        db.session.commit()

    mails = delivered(mailbox)
    (digest,) = mails[both.email]
    assert "“Dark mode” is now Planned" in digest and "Spam in disguise" not in digest
    assert only_hidden.email not in mails  # nothing left: no digest at all


# -- a mail that waited in the outbox --------------------------------------------------------


def test_a_queued_mail_about_an_idea_no_longer_visible_is_not_sent(client, make, auth, app, people):
    make.board()
    number = make.idea(1, make.user(name="Ada Author", email_preference="none"), "Dark mode")
    vote_for(app, number, people["customer"], people["moderator"])
    port, previous = free_port(), app.config["MAIL_URL"]
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"  # the mail server is down
    try:
        signed_in(auth, people["owner"])
        change(client, number, "planned")
        box = Mailbox(app)
        assert box.receive() == []  # fanned out: both mails wait in the outbox
        signed_in(auth, people["admin"])
        make_private(client, "features")
        with app.app_context():
            db.session.execute(db.update(OutboxMessage).values(next_attempt_at=utcnow()))
            db.session.commit()
        from aiosmtpd.controller import Controller

        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            assert [m["To"] for m in box.receive()] == [people["moderator"].email]
            with app.app_context():
                db.session.execute(db.update(OutboxMessage).values(next_attempt_at=utcnow()))
                db.session.commit()
            assert box.receive() == []  # given up, not retried
        finally:
            controller.stop()
    finally:
        app.config["MAIL_URL"] = previous
    with app.app_context():
        (withheld,) = db.session.scalars(
            db.select(OutboxMessage).where(OutboxMessage.last_error.like("GiveUp%"))
        ).all()
        assert withheld.payload["to"] == people["customer"].email
        assert withheld.sent_at is not None
        assert "may no longer see every one of ideas" in withheld.last_error
    assert withheld.payload["idea_ids"] == [idea_of(app, number).id]


def test_a_queued_digest_about_an_idea_hidden_since_is_not_sent(
    client, make, auth, app, mailbox, people
):
    number = make.idea(make.board(), make.user(name="Ada"), "Dark mode")
    weekly = make.user(name="Wanda Weekly", email_frequency="weekly")
    vote_for(app, number, weekly)
    signed_in(auth, people["owner"])
    change(client, number, "planned")
    delivered(mailbox)  # a notice for Wanda, kept for her digest
    with app.app_context():  # a week passes and her digest is queued, not yet sent
        db.session.get(User, weekly.id).digest_sent_at = utcnow() - timedelta(days=8)
        db.session.execute(db.update(Notification).values(created_at=utcnow() - timedelta(days=1)))
        assert queue_digests() == 1
        db.session.commit()
    signed_in(auth, people["moderator"])
    moderate(client, app, number, "hide")
    assert weekly.email not in delivered(mailbox)


# -- lists show only what the viewer may see now ---------------------------------------------


def bell(page: str) -> int:
    found = re.search(r"Notifications, (\d+) unread", page)
    return int(found.group(1)) if found else 0


def test_a_demoted_moderators_lists_and_export_forget_the_private_board(
    client, make, auth, app, people
):
    make.board()
    private = make.board("internal", is_private=True)
    mine = make.idea(private, people["moderator"], "My internal idea")
    theirs = make.idea(private, people["owner"], "Their internal idea")
    public = make.idea(1, people["owner"], "A public idea")
    vote_for(app, theirs, people["moderator"])
    vote_for(app, public, people["moderator"])
    with app.app_context():
        for number, text in ((theirs, "Internal news"), (public, "Public news")):
            idea_id = db.session.scalar(db.select(Idea.id).filter_by(number=number))
            db.session.add(Notification(user_id=people["moderator"].id, idea_id=idea_id,
                                        kind="status", text=text))  # fmt: skip
        db.session.add(Notification(user_id=people["moderator"].id, kind="queue_waiting",
                                    text="Posts wait for review"))  # fmt: skip
        db.session.commit()
    signed_in(auth, people["moderator"])
    profile = client.get("/me").text
    assert "My internal idea" in profile and "Their internal idea" in profile
    assert bell(profile) == 3

    signed_in(auth, people["admin"])
    demote(client, people["moderator"])
    signed_in(auth, people["moderator"])
    profile = client.get("/me").text
    assert "A public idea" in profile
    assert "My internal idea" not in profile and "Their internal idea" not in profile
    page = client.get("/notifications").text
    assert "Public news" in page and "Posts wait for review" in page
    assert "Internal news" not in page
    assert bell(page) == 2

    data = client.get("/account/export.json").get_json()
    # Their own idea stays in their data (their words), nothing else of the private board.
    assert [idea["number"] for idea in data["ideas"]] == [mine]
    assert [vote["idea"]["number"] for vote in data["votes"]] == [public]
    assert theirs not in {sub["idea"]["number"] for sub in data["subscriptions"]}
    assert [n["text"] for n in data["notifications"]] == ["Public news", "Posts wait for review"]
    assert "Internal news" not in str(data) and "Their internal idea" not in str(data)


def test_my_own_hidden_idea_leaves_my_lists_but_its_moderation_notice_stays(
    client, make, auth, app, people
):
    board = make.board()
    hidden = make.idea(board, people["customer"], "My idea a moderator hid")
    held = make.idea(board, people["customer"], "My idea waiting for review")
    signed_in(auth, people["moderator"])
    moderate(client, app, hidden, "hide")
    hold(app, held)
    with app.app_context():
        idea_id = db.session.scalar(db.select(Idea.id).filter_by(number=hidden))
        db.session.add(Notification(user_id=people["customer"].id, idea_id=idea_id,
                                    kind="status", text="Hidden news"))  # fmt: skip
        db.session.commit()

    signed_in(auth, people["customer"])
    profile = client.get("/me").text
    assert "My idea waiting for review" in profile  # held: still mine to see
    assert "My idea a moderator hid" not in profile
    page = client.get("/notifications").text
    assert "Your idea “My idea a moderator hid” was hidden by a moderator" in page
    assert "Hidden news" not in page
    assert bell(page) == 1


def comment_as(client, auth, app, person, number) -> int:
    signed_in(auth, person)
    assert client.post(f"/ideas/{number}/comments", data={"body": "Mine."}).status_code == 303
    with app.app_context():
        return db.session.scalar(db.select(Comment.id).filter_by(body="Mine."))


def hide_comment(client, auth, moderator, comment_id) -> None:
    signed_in(auth, moderator)
    hidden = client.post(f"/moderation/comment/{comment_id}",
                         data={"action": "hide", "reason": "Rude."})  # fmt: skip
    assert hidden.status_code == 303


def test_a_notice_that_my_comment_was_hidden_names_no_idea_i_may_no_longer_see(
    client, make, auth, app, people
):
    number = make.idea(make.board(), people["owner"], "An idea of somebody else")
    comment_id = comment_as(client, auth, app, people["customer"], number)
    hide_comment(client, auth, people["moderator"], comment_id)
    signed_in(auth, people["customer"])
    assert (
        "Your comment on “An idea of somebody else” was hidden" in client.get("/notifications").text
    )

    signed_in(auth, people["moderator"])
    moderate(client, app, number, "hide")  # the idea itself goes too: its title with it
    signed_in(auth, people["customer"])
    page = client.get("/notifications").text
    assert "An idea of somebody else" not in page and bell(page) == 0


def test_my_comment_hidden_on_a_board_made_private_is_told_without_the_idea(
    client, make, auth, app, people
):
    number = make.idea(make.board(), people["owner"], "A roadmap only staff see now")
    comment_id = comment_as(client, auth, app, people["customer"], number)
    signed_in(auth, people["admin"])
    make_private(client, "features")
    hide_comment(client, auth, people["moderator"], comment_id)

    signed_in(auth, people["customer"])
    page = client.get("/notifications").text
    assert "Your comment was hidden by a moderator: Rude." in page
    assert "A roadmap only staff see now" not in page and bell(page) == 1
    with app.app_context():
        stored = db.session.scalars(db.select(Notification.text)).all()
    assert not any("A roadmap only staff see now" in text for text in stored)


# -- one rule: the SQL form agrees with can_view -------------------------------------------


def test_visible_clause_agrees_with_can_view(make, app):
    authors = [make.user(name="Ada Author"), make.user(Role.MODERATOR, name="Mo Author")]
    readers = [
        *authors,
        make.user(name="Cem"),
        make.user(Role.MODERATOR),
        make.user(Role.OWNER),
        make.user(Role.ADMIN),
    ]
    states = ["is_hidden", "is_deleted", "is_held"]
    for private in (False, True):
        board = make.board(f"board-{int(private)}", is_private=private)
        for n, (author, flags) in enumerate(product(authors, product((False, True), repeat=3))):
            title = f"Idea {n} on board {int(private)}"
            make.idea(board, author, title, **dict(zip(states, flags, strict=True)))
    with app.app_context():
        ideas = db.session.scalars(db.select(Idea)).all()
        assert len(ideas) == 32
        people = [db.session.get(User, r.id) for r in readers] + [AnonymousUserMixin()]
        for person in people:
            expected = {idea.id for idea in ideas if idea.can_view(person)}
            found = db.session.scalars(
                db.select(Idea.id).join(Board).where(Idea.visible_clause(person))
            ).all()
            assert set(found) == expected, person
        # The form for many readers at once, as the fan-out asks.
        pairs = db.session.execute(
            db.select(User.id, Idea.id).select_from(Idea)
            .join(Board, Board.id == Idea.board_id).join(User, true())
            .where(Idea.visible_clause(User))
        ).all()  # fmt: skip
        assert set(pairs) == {
            (person.id, idea.id) for person in people[:-1] for idea in ideas
            if idea.can_view(person)
        }  # fmt: skip


def test_followers_who_may_not_see_cost_the_fan_out_no_query_each(make, app):
    """Visibility is filtered in SQL: 40 followers who may not see an idea cost the worker
    no more statements than one (bench/fanout.py has 10,000)."""
    owner = make.user(Role.OWNER)

    def statements_to_fan_out(slug: str, followers: int) -> int:
        number = make.idea(make.board(slug, is_private=True), owner, f"Plans for {slug}")
        readers = [make.user() for _ in range(followers)]
        with app.app_context():
            idea = db.session.scalar(db.select(Idea).filter_by(number=number))
            for reader in readers:  # they followed while they were staff, say
                db.session.add(Subscription(user_id=reader.id, idea_id=idea.id))
            db.session.flush()
            change_status(db.session.get(User, owner.id), idea, "planned", "Soon.")
            db.session.commit()
            seen = []
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                drain()
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
            assert db.session.scalar(db.select(db.func.count(Notification.id))) == 0
        return len(seen)

    statements_to_fan_out("warm", 1)  # first-time look-ups (the workflow, settings) aside
    assert statements_to_fan_out("many", 40) == statements_to_fan_out("one", 1)
