"""Budget votes never get stuck (issue 18, point 5): an idea that stops being public (hidden
or deleted by a moderator, hidden by flags) gives its voters their budget votes back, as
closing it does; public again, its votes count as far as each budget still allows, as
reopening does (docs/decisions/0006), with the same notices."""

import html
import re
import threading

import pytest

from conftest import Auth, htmx_headers
from portal.extensions import db
from portal.models import AuditEntry, Idea, Notification, Role, User, Vote, utcnow
from portal.operations import votes
from portal.worker import drain

REMOVED = "an idea you voted for is no longer shown"  # not named: they may no longer see it


def signed_in(app, user):
    """A browser of its own, signed in as user."""
    client = app.test_client()
    Auth(client).login(user)
    return client


def ideas(make, board, *titles) -> list[int]:
    """The numbers of new ideas on board, one per title, by one trusted author."""
    author = make.user(is_trusted=True)  # not held on boards that hold new posts
    return [make.idea(board, author, title) for title in titles]


def idea_row(app, number) -> Idea:
    with app.app_context():
        return db.session.scalar(db.select(Idea).filter_by(number=number))


def weights(app, number) -> dict[int, int]:
    """Each voter's weight on the idea; its stored count must be their sum."""
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        found = dict(
            db.session.execute(
                db.select(Vote.user_id, Vote.weight).filter_by(idea_id=idea.id)
            ).all()
        )
        assert idea.vote_count == sum(found.values())
        return found


def votes_left(client, page="/b/features") -> int:
    """The "N of M votes left in this board" a voter reads on a page."""
    text = re.sub(r"</?strong>", "", client.get(page).text)
    return int(re.search(r"(\d+) of \d+ votes? left in this board", text).group(1))


def vote(client, number, weight=1) -> None:
    response = client.post(f"/ideas/{number}/vote", data={"weight": str(weight)},
                           headers=htmx_headers())  # fmt: skip
    assert "Remove vote</button>" in response.text, response.text


def moderate(client, app, number, action, reason="Advertising: see rule 3."):
    response = client.post(f"/moderation/idea/{idea_row(app, number).id}",
                           data={"action": action, "reason": reason})  # fmt: skip
    assert response.status_code == 303
    return response


def notices(client) -> str:
    return html.unescape(client.get("/notifications").text)


def run_worker(app) -> None:
    with app.app_context():
        drain()


def audited(app, action) -> AuditEntry:
    with app.app_context():
        return db.session.scalars(
            db.select(AuditEntry).filter_by(action=action).order_by(AuditEntry.id.desc())
        ).first()


@pytest.mark.parametrize("action", ["hide", "delete"])
def test_a_removed_idea_gives_votes_back_and_a_restore_counts_them_as_far_as_budgets_allow(
    app, make, action
):
    board = make.board(votes_per_user=3, max_votes_per_idea=2)
    removed, kept, elsewhere = ideas(make, board, "Dark mode", "CSV export", "Calendar sync")
    voter, patient = make.user(), make.user()
    voter_client, patient_client = signed_in(app, voter), signed_in(app, patient)
    vote(voter_client, removed, 2)
    vote(voter_client, kept, 1)
    vote(patient_client, removed, 1)
    assert votes_left(voter_client) == 0
    moderator = signed_in(app, make.user(Role.MODERATOR))

    moderate(moderator, app, removed, action)
    assert voter_client.get(f"/ideas/{removed}").status_code == 404
    assert votes_left(voter_client) == 2 and votes_left(patient_client) == 3
    assert votes_left(voter_client, f"/ideas/{kept}") == 2  # every page agrees
    assert weights(app, removed) == {voter.id: 2, patient.id: 1}  # kept, as on closing
    run_worker(app)
    told = notices(voter_client)
    assert f"Your 2 votes are back in Features: {REMOVED}" in told
    assert "Dark mode" not in told  # they may no longer see it: not named, not linked
    vote(voter_client, elsewhere, 1)  # one of the votes that came back, spent again
    assert votes_left(voter_client) == 1

    moderate(moderator, app, removed, "restore")
    # 2 + 1 + 1 would be 4 of 3: the vote spent meanwhile stays where it went.
    assert weights(app, removed) == {voter.id: 1, patient.id: 1}
    assert votes_left(voter_client) == 0 and votes_left(patient_client) == 2
    assert audited(app, "idea.restore").after["votes_taken_back"] == {str(voter.id): 1}
    assert (
        "“Dark mode” is open for votes again, but 1 of your votes stays where you spent it in "
        "Features while it was closed" in notices(voter_client)
    )
    assert "open for votes again" not in notices(patient_client)


def test_an_idea_hidden_by_flags_gives_votes_back_until_a_moderator_dismisses_them(app, make):
    board = make.board(votes_per_user=3)
    spam, *others = ideas(
        make, board, "Cheap followers here", "CSV export", "Calendar sync", "Dark mode"
    )
    voter = make.user()
    voter_client = signed_in(app, voter)
    for number in (spam, others[0], others[1]):
        vote(voter_client, number)
    assert votes_left(voter_client) == 0
    for _ in range(3):  # three customers' flags hide it pending review
        signed_in(app, make.user()).post(f"/ideas/{spam}/flags", data={"reason": "spam"})
    assert idea_row(app, spam).is_hidden

    assert votes_left(voter_client) == 1
    run_worker(app)
    assert f"Your vote is back in Features: {REMOVED}" in notices(voter_client)
    vote(voter_client, others[2])
    assert votes_left(voter_client) == 0

    moderator = signed_in(app, make.user(Role.MODERATOR))
    moderate(moderator, app, spam, "dismiss", "")  # the flags were wrong: public again
    assert not idea_row(app, spam).is_hidden
    assert weights(app, spam) == {}  # no room left: the vote stays where it was spent
    assert votes_left(voter_client) == 0
    assert "“Cheap followers here” is open for votes again, but 1 of your votes stays" in (
        notices(voter_client)
    )


def test_flags_through_the_api_give_votes_back_and_the_api_agrees(app, make, api):
    board = make.board(votes_per_user=2)
    flagged, kept, elsewhere = ideas(make, board, "Cheap followers here", "CSV export", "Dark mode")
    voter = make.user()
    token = api.token(voter)
    assert api.put(f"/api/v1/ideas/{flagged}/vote", token, json={}).status_code == 200
    assert api.put(f"/api/v1/ideas/{kept}/vote", token, json={}).json["votes_left"] == 0
    refused = api.put(f"/api/v1/ideas/{elsewhere}/vote", token, json={})
    assert refused.status_code == 409
    for _ in range(3):
        flagger = api.token(make.user())
        answer = api.post(f"/api/v1/ideas/{flagged}/flags", flagger, json={"reason": "spam"})
        assert answer.status_code == 201

    assert api.get(f"/api/v1/ideas/{flagged}", token).status_code == 404
    assert api.put(f"/api/v1/ideas/{elsewhere}/vote", token, json={}).json["votes_left"] == 0
    assert weights(app, elsewhere) == weights(app, flagged) == {voter.id: 1}


def test_bulk_actions_release_and_count_again_every_idea(app, make):
    board = make.board(votes_per_user=2)
    first, second = ideas(make, board, "Dark mode", "CSV export")
    voter = make.user()
    voter_client = signed_in(app, voter)
    vote(voter_client, first)
    vote(voter_client, second)
    moderator = signed_in(app, make.user(Role.MODERATOR))
    items = [f"idea-{idea_row(app, number).id}" for number in (first, second)]

    moderator.post("/moderation", data={"items": items, "action": "delete"})
    assert votes_left(voter_client) == 2
    run_worker(app)
    assert notices(voter_client).count(f"Your vote is back in Features: {REMOVED}") == 2

    moderator.post("/moderation", data={"items": items, "action": "restore"})
    assert votes_left(voter_client) == 0
    assert weights(app, first) == weights(app, second) == {voter.id: 1}


def test_a_hidden_idea_closed_or_reopened_changes_no_budget_and_tells_once(app, make):
    board = make.board(votes_per_user=1)
    hidden, other = ideas(make, board, "Dark mode", "CSV export")
    voter, moderator = make.user(), make.user(Role.MODERATOR)  # staff still see hidden ideas
    voter_client, moderator_client = signed_in(app, voter), signed_in(app, moderator)
    vote(voter_client, hidden)
    vote(moderator_client, hidden)
    moderate(moderator_client, app, hidden, "hide")
    owner = signed_in(app, make.user(Role.OWNER))
    owner.post(f"/ideas/{hidden}/status", data={"status": "declined", "response": ""})
    assert idea_row(app, hidden).status == "declined"
    run_worker(app)  # closing it gave nothing back: its votes came back when it was hidden
    for client in (voter_client, moderator_client):
        told = notices(client)
        assert told.count("Your vote is back") == 1 and "back from “Dark mode”" not in told

    vote(voter_client, other)
    owner.post(f"/ideas/{hidden}/status", data={"status": "open", "response": ""})
    assert idea_row(app, hidden).status == "open"
    # Still hidden, it holds no budget votes: reopening it takes none back.
    assert weights(app, hidden) == {voter.id: 1, moderator.id: 1}
    assert votes_left(voter_client) == 0 and weights(app, other) == {voter.id: 1}
    assert votes_left(moderator_client) == 1
    moderate(moderator_client, app, hidden, "restore")  # now it does, as far as budgets allow
    assert weights(app, hidden) == {moderator.id: 1}


def test_a_voter_who_can_no_longer_see_the_board_hears_nothing(app, make):
    board = make.board(votes_per_user=2, is_private=True)
    idea = make.idea(board, make.user(Role.OWNER), "Internal tooling")
    demoted, staying = make.user(Role.MODERATOR), make.user(Role.MODERATOR)
    for person in (demoted, staying):
        vote(signed_in(app, person), idea)
    admin = signed_in(app, make.user(Role.ADMIN))
    admin.post(f"/admin/users/{demoted.id}/role", data={"role": str(int(Role.CUSTOMER))})
    with app.app_context():
        assert db.session.get(User, demoted.id).role == Role.CUSTOMER
    moderate(signed_in(app, staying), app, idea, "delete")
    run_worker(app)
    with app.app_context():
        told = dict(
            db.session.execute(
                db.select(Notification.user_id, Notification.text).filter_by(kind="votes_back")
            ).all()
        )
    assert told == {staying.id: f"Your vote is back in Features: {REMOVED}"}


def test_an_idea_held_again_by_its_authors_edit_gives_votes_back_until_approved(app, make):
    make.board(votes_per_user=2, hold_new_posts=True)
    author = make.user(created_at=utcnow())  # new: their posts and edits wait for review
    author_client = signed_in(app, author)
    form = {"title": "Dark mode", "body": "Harmless.", "confirmed": "1"}
    held = int(author_client.post("/b/features/new", data=form).headers["Location"].split("/")[-1])
    moderator = signed_in(app, make.user(Role.MODERATOR))
    moderate(moderator, app, held, "approve")
    board_id = idea_row(app, held).board_id
    other, elsewhere = ideas(make, board_id, "CSV export", "Calendar sync")
    voter = make.user()
    voter_client = signed_in(app, voter)
    vote(voter_client, held)
    vote(voter_client, other)

    edited = author_client.post(f"/ideas/{held}/edit", data={"title": "Dark mode", "body": "Spam."})
    assert edited.status_code == 303 and idea_row(app, held).is_held
    assert votes_left(voter_client) == 1
    run_worker(app)
    assert f"Your vote is back in Features: {REMOVED}" in notices(voter_client)
    vote(voter_client, elsewhere)

    moderate(moderator, app, held, "approve")  # public again, but the budget is spent
    assert weights(app, held) == {}
    assert votes_left(voter_client) == 0
    assert "“Dark mode” is open for votes again, but 1 of your votes stays" in notices(voter_client)


def test_a_restore_racing_a_vote_never_overspends(app, make, monkeypatch):
    board = make.board(votes_per_user=1)
    restored, elsewhere = ideas(make, board, "Dark mode", "CSV export")
    voter = make.user()
    voter_client = signed_in(app, voter)
    vote(voter_client, restored)
    moderator = signed_in(app, make.user(Role.MODERATOR))
    moderate(moderator, app, restored, "hide")
    counted, go_on = threading.Event(), threading.Event()
    apply_delta = votes._apply_delta

    def pause_after_counting(*args):  # the vote has checked the budget and holds the voter
        counted.set()
        assert go_on.wait(10)
        return apply_delta(*args)

    monkeypatch.setattr(votes, "_apply_delta", pause_after_counting)
    voting = threading.Thread(target=vote, args=(voter_client, elsewhere))
    voting.start()
    assert counted.wait(10)
    restoring = threading.Thread(target=moderate, args=(moderator, app, restored, "restore"))
    restoring.start()
    try:
        restoring.join(0.5)  # PostgreSQL: it waits for the voter; SQLite: for the write lock
        assert restoring.is_alive(), "the restore counted before the vote was stored"
    finally:
        go_on.set()
        voting.join(10)
        restoring.join(10)

    assert weights(app, elsewhere) == {voter.id: 1}
    assert weights(app, restored) == {}  # the restore saw the vote and took this one back
    assert votes_left(voter_client) == 0
