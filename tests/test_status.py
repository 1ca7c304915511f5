"""The product team answers in public: status changes, their timeline and feed, and the
followers who hear about them (SPEC sections 3 and 7)."""

import html
import re
from datetime import timedelta

import pytest

from conftest import htmx_headers, text_and_html, vote_for
from portal.extensions import db
from portal.models import AuditEntry, Idea, Notification, OutboxMessage, Role, User, utcnow
from portal.worker import drain


@pytest.fixture
def idea(make):
    """An open idea on a board, by a customer who follows it."""
    return make.idea(make.board(), make.user(name="Ada"), "Export reports as CSV")


def change(client, number, status, response="", **headers):
    return client.post(
        f"/ideas/{number}/status", data={"status": status, "response": response}, headers=headers
    )


def idea_row(app, number) -> Idea:
    with app.app_context():
        return db.session.scalar(db.select(Idea).filter_by(number=number))


def test_an_owner_answers_in_public(client, make, auth, app, idea):
    auth.login(make.user(Role.OWNER, name="Olga"))
    response = change(client, idea, "planned", "We start in **March**.")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    assert "The idea is now Planned." in page
    assert 'data-status="planned"' in page
    assert "Olga changed the status from" in page and "<strong>March</strong>" in page
    with app.app_context():
        entry = db.session.scalar(db.select(AuditEntry).filter_by(action="idea.status"))
        assert entry.before == {"status": "open"} and entry.after == {"status": "planned"}


def test_every_change_stays_on_the_timeline_and_in_the_feed(client, make, auth, idea):
    auth.login(make.user(Role.OWNER))
    change(client, idea, "under_review", "Looking at it.")
    change(client, idea, "planned", "Next quarter.")
    page = client.get(f"/ideas/{idea}").text
    assert "Looking at it." in page and "Next quarter." in page
    feed = client.get(f"/ideas/{idea}/feed.atom")
    assert feed.headers["Content-Type"].startswith("application/atom+xml")
    assert feed.text.count("<entry>") == 2
    assert "Now Planned" in feed.text and "Next quarter." in feed.text


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR])
def test_only_the_product_team_changes_status(client, make, auth, app, idea, role):
    auth.login(make.user(role))
    assert client.get(f"/ideas/{idea}/status").status_code == 403
    assert change(client, idea, "planned").status_code == 403
    assert "Change status" not in client.get(f"/ideas/{idea}").text
    assert idea_row(app, idea).status == "open"


def test_a_visitor_is_sent_to_sign_in(client, app, idea):
    response = change(client, idea, "planned")
    assert response.status_code == 303 and "/signin" in response.headers["Location"]
    assert idea_row(app, idea).status == "open"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("open", "The idea is already Open."),
        ("duplicate", "An idea becomes a duplicate only by merging it into another."),
        ("shipped", "There is no status called 'shipped'."),
    ],
)
def test_invalid_transitions_are_refused_clearly(client, make, auth, app, idea, status, message):
    auth.login(make.user(Role.OWNER))
    response = change(client, idea, status, "My carefully written answer.")
    assert response.status_code == 409
    assert message in html.unescape(response.text)
    assert "My carefully written answer.</textarea>" in response.text  # nothing is lost
    assert idea_row(app, idea).status == "open"


def test_with_htmx_the_idea_updates_in_place(client, make, auth, idea):
    auth.login(make.user(Role.OWNER))
    dialog = client.get(f"/ideas/{idea}/status", headers=htmx_headers())
    assert "<html" not in dialog.text and "<dialog open" in dialog.text
    assert '<option value="open"' not in dialog.text  # no move to where it already is
    response = change(client, idea, "started", "Building it now.", **htmx_headers())
    assert "<html" not in response.text and 'id="idea-page"' in response.text
    assert 'data-status="started"' in response.text and "Building it now." in response.text


def test_closing_an_idea_releases_budget_votes(client, make, auth, app):
    board = make.board(votes_per_user=2)
    number = make.idea(board, make.user(), "Dark mode")
    voter = make.user()
    vote_for(app, number, voter)
    auth.login(make.user(Role.OWNER))
    change(client, number, "completed", "Shipped in 4.2.")
    auth.logout()
    auth.login(voter)
    page = re.sub(r"</?strong>", "", client.get("/b/features").text)
    assert "2 of 2 votes left" in page
    with app.app_context():
        drain()  # the worker tells the voter
    notices = client.get("/notifications").text
    assert "Your vote is back from “Dark mode”: use it again in Features" in notices


def test_a_reopened_idea_tells_voters_whose_votes_stay_where_they_spent_them(
    client, make, auth, app
):
    board = make.board(votes_per_user=2)
    author = make.user()
    reopened, *others = (make.idea(board, author, t) for t in ("Dark mode", "Themes", "Fonts"))
    voter, unaffected = make.user(), make.user()
    vote_for(app, reopened, voter, unaffected)
    auth.login(make.user(Role.OWNER))
    change(client, reopened, "completed", "Shipped in 4.2.")
    vote_for(app, others[0], voter)  # the returned votes spent while it was closed
    vote_for(app, others[1], voter)
    change(client, reopened, "planned", "Reopened: 4.2 broke it again.")
    auth.logout()

    assert idea_row(app, reopened).vote_count == 1  # only the voter who had room kept it
    auth.login(voter)
    notices = client.get("/notifications").text
    assert (
        "“Dark mode” is open for votes again, but 1 of your votes stays where you spent it in "
        "Features while it was closed" in notices
    )
    assert "0 of 2 votes left" in re.sub(r"</?strong>", "", client.get("/b/features").text)
    auth.logout()
    auth.login(unaffected)
    assert "open for votes again" not in client.get("/notifications").text


def test_followers_get_one_mail_each_and_the_actor_none(client, make, auth, app, mailbox, idea):
    voters = [make.user(name=f"Voter {n}") for n in range(3)]
    vote_for(app, idea, *voters)
    quiet = make.user(name="Quiet", email_preference="none")
    gone = make.user(name="Gone")
    owner = make.user(Role.OWNER, name="Olga")
    vote_for(app, idea, quiet, gone, owner)  # the owner follows too, but acts
    auth.login(gone)
    client.post(f"/ideas/{idea}/subscription", data={"level": ""})  # unfollows
    auth.logout()
    auth.login(owner)

    change(client, idea, "planned", "We start in March.")
    with app.app_context():  # the request only queued the fan-out
        assert db.session.scalar(db.select(db.func.count(Notification.id))) == 0
    messages = mailbox.receive()  # the worker fans out ...
    messages += mailbox.receive()  # ... and sends what that queued

    author = idea_row(app, idea).author_id
    with app.app_context():
        author_email = db.session.get(User, author).email
    recipients = sorted(message["To"] for message in messages)
    assert recipients == sorted([author_email, *[v.email for v in voters]])
    text, html = text_and_html(messages[0])
    assert "is now Planned" in text and "We start in March." in text and "March" in html
    assert messages[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mailbox.receive() == []  # exactly once
    with app.app_context():
        noticed = db.session.scalars(db.select(Notification.user_id)).all()
        assert sorted(noticed) == sorted([u.id for u in (*voters, quiet)] + [author])


def test_the_bell_counts_unread_notices(client, make, auth, app, mailbox, idea):
    voter = make.user()
    vote_for(app, idea, voter)
    auth.login(make.user(Role.OWNER))
    change(client, idea, "planned")
    mailbox.receive()
    auth.logout()
    auth.login(voter)
    page = client.get("/notifications").text
    assert "1 unread" in page and "is now Planned" in page
    client.post("/notifications/read")
    assert "unread" not in client.get("/notifications").text


def test_the_unsubscribe_link_works_signed_out_and_cannot_be_forged(
    client, make, auth, app, mailbox, idea
):
    voter = make.user()
    vote_for(app, idea, voter)
    auth.login(make.user(Role.OWNER))
    change(client, idea, "under_review")
    (message,) = [m for m in mailbox.receive() + mailbox.receive() if m["To"] == voter.email]
    auth.logout()
    link = re.search(r"<(http://localhost(/unsubscribe/[^>]+))>", message["List-Unsubscribe"])
    path = link.group(2)
    assert link.group(1) in text_and_html(message)[0]

    assert "Stop emails about this idea?" in client.get(path).text  # a scanner's GET: no change
    forged = path[:-3] + ("abc" if not path.endswith("abc") else "xyz")
    assert client.post(forged).status_code == 404
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200

    change_again = make.user(Role.OWNER)
    auth.login(change_again)
    change(client, idea, "planned")
    assert [m for m in mailbox.receive() + mailbox.receive() if m["To"] == voter.email] == []


def test_smtp_down_then_up_delivers_every_mail_once(client, make, auth, app, idea):
    from conftest import Mailbox, free_port

    voter = make.user()
    vote_for(app, idea, voter)
    auth.login(make.user(Role.OWNER))
    port, previous = free_port(), app.config["MAIL_URL"]
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"  # nothing listens yet
    try:
        change(client, idea, "planned")
        with app.app_context():
            from portal.worker import drain

            drain()  # fan-out succeeds, the mails fail and wait
            assert (
                db.session.scalar(
                    db.select(db.func.count(OutboxMessage.id)).where(
                        OutboxMessage.sent_at.is_(None)
                    )
                )
                == 2
            )
            db.session.execute(db.update(OutboxMessage).values(next_attempt_at=utcnow()))
            db.session.commit()
            author_email = db.session.get(User, idea_row(app, idea).author_id).email
        box = Mailbox(app)
        from aiosmtpd.controller import Controller

        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            assert sorted(m["To"] for m in box.receive()) == sorted([author_email, voter.email])
            assert box.receive() == []
        finally:
            controller.stop()
    finally:
        app.config["MAIL_URL"] = previous


def comment(client, number, body, kind=""):
    return client.post(f"/ideas/{number}/comments", data={"body": body, "kind": kind})


def test_comments_reach_followers_by_their_level(client, make, auth, app, mailbox, idea):
    voter, commenter = make.user(name="Vera Voter"), make.user(name="Cem Commenter")
    vote_for(app, idea, voter)  # follows status changes and official answers
    owner = make.user(Role.OWNER, name="Olga")
    auth.login(commenter)
    comment(client, idea, "Me too, every Monday.")  # now follows everything
    auth.logout()
    auth.login(owner)
    comment(client, idea, "Secret: the **budget** is tight.", kind="internal")
    comment(client, idea, "We are looking into it.", kind="official")
    auth.logout()
    auth.login(make.user(name="Petra"))
    comment(client, idea, "Same for our team.")

    messages = mailbox.receive() + mailbox.receive()
    mails = {}
    for message in messages:
        mails.setdefault(message["To"], []).append(text_and_html(message)[0])
    everything = "\n".join(text for texts in mails.values() for text in texts)
    assert "Secret" not in everything  # internal notes never leave the team
    author = idea_row(app, idea).author_id
    with app.app_context():
        author_email = db.session.get(User, author).email
    # The voter hears only the official answer; the author and the commenter hear the
    # comments of others and the answer; nobody hears of their own comment.
    assert len(mails[voter.email]) == 1 and "We are looking into it." in mails[voter.email][0]
    assert len(mails[commenter.email]) == 2  # the answer and Petra's comment
    assert len(mails[author_email]) == 3
    # Answering made the owner a follower: Petra's comment, not their own answer.
    assert len(mails[owner.email]) == 1 and "Same for our team." in mails[owner.email][0]
    with app.app_context():
        notices = db.session.scalars(db.select(Notification.text)).all()
    assert not any("Secret" in text for text in notices)


def test_a_weekly_digest_instead_of_a_mail_each(client, make, auth, app, mailbox, idea):
    reader = make.user(name="Wanda Weekly")
    vote_for(app, idea, reader)
    auth.login(reader)
    saved = client.post(
        "/me/email-preference", data={"email_preference": "status", "email_frequency": "weekly"}
    )
    assert saved.status_code == 303
    auth.logout()
    auth.login(make.user(Role.OWNER))
    change(client, idea, "under_review", "Looking at it.")
    change(client, idea, "planned", "Next quarter.")
    received = mailbox.receive() + mailbox.receive()
    assert reader.email not in [m["To"] for m in received]  # nothing until the week is up

    with app.app_context():  # a week passes
        user = db.session.get(User, reader.id)
        user.digest_sent_at = utcnow() - timedelta(days=7, minutes=1)
        for notice in db.session.scalars(db.select(Notification).filter_by(user_id=reader.id)):
            notice.created_at = utcnow() - timedelta(days=1)
        db.session.commit()
    (digest,) = [m for m in mailbox.receive() if m["To"] == reader.email]
    text, _ = text_and_html(digest)
    assert "is now Under review" in text and "is now Planned" in text
    assert mailbox.receive() == []  # one digest a week

    link = re.search(r"<http://localhost(/unsubscribe/[^>]+)>", digest["List-Unsubscribe"])
    auth.logout()
    assert client.post(link.group(1)).status_code == 200
    with app.app_context():
        assert db.session.get(User, reader.id).email_preference == "none"


def test_internal_notes_never_reach_a_customer(client, make, auth, app, mailbox, idea):
    secret = "Zanzibar budget cut"
    voter = make.user(name="Vera")
    vote_for(app, idea, voter)
    auth.login(make.user(Role.OWNER))
    comment(client, idea, f"Internal: {secret}.", kind="internal")
    change(client, idea, "completed", "Shipped today.")
    auth.logout()
    mails = mailbox.receive() + mailbox.receive()
    assert mails and not any(secret in text_and_html(m)[0] + text_and_html(m)[1] for m in mails)
    surfaces = [
        f"/ideas/{idea}",
        f"/ideas/{idea}/feed.atom",
        "/changelog",
        "/changelog.atom",
        "/roadmap",
        "/search?q=zanzibar",
        "/search?q=budget",
    ]
    for path in surfaces:  # signed out ...
        assert secret not in client.get(path).text, path
    auth.login(voter)  # ... and as a customer who follows the idea
    for path in [*surfaces, "/notifications"]:
        assert secret not in client.get(path).text, path


def test_following_answers_htmx_with_the_control_and_a_plain_form_with_a_redirect(
    client, make, auth, idea
):
    auth.login(make.user())
    answer = client.post(f"/ideas/{idea}/subscription", data={"level": "all"},
                         headers=htmx_headers())  # fmt: skip
    assert answer.status_code == 200 and "<html" not in answer.text
    assert answer.text.lstrip().startswith('<form method="post"')
    assert 'data-announce="You are following this idea."' in answer.text
    assert ">Unfollow</button>" in answer.text
    assert "You are following this idea." not in client.get(f"/ideas/{idea}").text  # no flash

    plain = client.post(f"/ideas/{idea}/subscription", data={"level": ""})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/ideas/{idea}")
    page = client.get(f"/ideas/{idea}").text
    assert "You will no longer get updates on this idea." in page
    assert ">Follow</button>" in page
