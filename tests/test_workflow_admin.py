"""Admins add, change and remove their own statuses and narrow the allowed moves (issue 4,
point 2)."""

import html
import re

import pytest

from portal.extensions import db
from portal.models import AuditEntry, BlockedTransition, CustomStatus, Idea, Merge, Role, User
from portal.operations.votes import cast_vote
from portal.worker import drain


def add_status(client, **fields):
    data = {"slug": "beta", "label": "In beta", "colour": "#0a7ea4", "phase": "active", **fields}
    return client.post("/admin/statuses", data=data)


def edit_status(client, slug="beta", **fields):
    data = {"label": "In beta", "colour": "#0a7ea4", "phase": "active", **fields}
    return client.post(f"/admin/statuses/{slug}", data=data)


def status_of(app, number) -> str:
    with app.app_context():
        return db.session.scalar(db.select(Idea.status).filter_by(number=number))


def move(client, make, auth, number, *statuses):
    """Sign in as a product owner and move the idea through statuses, one after another."""
    auth.logout()
    auth.login(make.user(Role.OWNER))
    for status in statuses:
        assert client.post(f"/ideas/{number}/status", data={"status": status}).status_code == 303
    auth.logout()


def idea_row(number) -> Idea:
    return db.session.scalar(db.select(Idea).filter_by(number=number))


def audited(app, action) -> AuditEntry | None:
    with app.app_context():
        return db.session.scalar(db.select(AuditEntry).filter_by(action=action))


def workflow_text(client) -> str:
    return html.unescape(client.get("/admin/workflow").text)


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_shape_the_workflow(client, make, auth, app, role):
    auth.login(make.user(Role.ADMIN))
    add_status(client)
    auth.logout()
    auth.login(make.user(role))
    assert client.get("/admin/workflow").status_code == 403
    assert add_status(client, slug="gamma").status_code == 403
    assert edit_status(client, label="Hijacked").status_code == 403
    assert client.post("/admin/statuses/beta/delete").status_code == 403
    assert client.post("/admin/transitions", data={}).status_code == 403
    with app.app_context():
        assert db.session.scalar(db.select(CustomStatus.label)) == "In beta"


def test_a_visitor_is_sent_to_sign_in(client):
    response = client.get("/admin/workflow")
    assert response.status_code in (302, 303) and "/signin" in response.headers["Location"]


def test_an_admins_status_works_like_a_built_in_one(client, make, auth, app):
    number = make.idea(make.board(), make.user(), "Dark mode for the editor")
    auth.login(make.user(Role.ADMIN))
    assert add_status(client).status_code == 303
    assert "In beta" in client.get("/admin/workflow").text
    auth.logout()
    auth.login(make.user(Role.OWNER))
    assert '<option value="beta">In beta</option>' in client.get(f"/ideas/{number}/status").text
    client.post(f"/ideas/{number}/status", data={"status": "beta", "response": "Try it."})
    assert status_of(app, number) == "beta"
    page = client.get(f"/ideas/{number}").text
    assert 'data-status="beta" style="background-color: #0a7ea4">In beta' in page
    assert "Voting closed" not in page  # an active phase: still open for votes
    roadmap = client.get("/roadmap").text
    lane = roadmap[roadmap.index("In progress") : roadmap.index("Completed")]
    assert "Dark mode for the editor" in lane


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"slug": "open"}, "There is already a status called 'open'."),
        ({"slug": "Beta Test"}, "2 to 40 lowercase letters"),
        ({"label": ""}, "Give it a label"),
        ({"colour": "red"}, "Pick a colour"),
        ({"phase": "shipped"}, "Choose the phase"),
    ],
)
def test_bad_statuses_are_refused_clearly(client, make, auth, fields, message):
    auth.login(make.user(Role.ADMIN))
    response = add_status(client, **fields)
    assert response.status_code == 422
    assert message in html.unescape(response.text)


def test_turned_off_moves_are_refused(client, make, auth, app):
    number = make.idea(make.board(), make.user())
    auth.login(make.user(Role.ADMIN))
    page = client.get("/admin/workflow").text
    allowed = [v for v in html.unescape(page).split('value="')[1:] if ">" in v.split('"')[0]]
    moves = {v.split('"')[0] for v in allowed}
    moves.discard("open>completed")  # ideas must be reviewed before they are done
    assert client.post("/admin/transitions", data={"allowed": sorted(moves)}).status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(AuditEntry).filter_by(action="workflow.transitions"))
    auth.logout()
    auth.login(make.user(Role.OWNER))
    assert '<option value="completed">' not in client.get(f"/ideas/{number}/status").text
    refused = client.post(f"/ideas/{number}/status", data={"status": "completed"})
    assert refused.status_code == 409
    assert "An idea cannot move from Open to Completed." in html.unescape(refused.text)
    client.post(f"/ideas/{number}/status", data={"status": "under_review"})
    client.post(f"/ideas/{number}/status", data={"status": "completed"})
    assert status_of(app, number) == "completed"


def test_a_status_label_loses_control_characters(client, make, auth):
    auth.login(make.user(Role.ADMIN))
    assert add_status(client, label="In\x00 be\x1bta\u200b").status_code == 303
    page = client.get("/admin/workflow").text
    assert "In beta\u200b" in page and "\x1b" not in page


# -- changing and removing an admin's own status -----------------------------------------


def test_a_changed_label_shows_everywhere_and_a_new_phase_closes_voting(client, make, auth, app):
    number = make.idea(make.board(), make.user(), "Dark mode for the editor")
    auth.login(make.user(Role.ADMIN))
    add_status(client)
    move(client, make, auth, number, "beta")
    visitor = app.test_client()
    assert "In beta" in visitor.get("/b/features").text  # kept by the page cache
    auth.login(make.user(Role.ADMIN))
    page = client.get("/admin/workflow").text
    assert "A new phase applies at once to every idea in this status" in page

    answer = edit_status(client, label="Released", colour="#1a7f37", phase="done")
    assert answer.status_code == 303
    assert "Saved the status Released." in workflow_text(client)
    board = visitor.get("/b/features?status=").text  # closed now: shown with any status
    assert 'data-status="beta" style="background-color: #1a7f37">Released' in board
    assert "In beta" not in board
    idea_page = visitor.get(f"/ideas/{number}").text
    assert ">Released</span>" in idea_page and "Voting closed" in idea_page
    roadmap = visitor.get("/roadmap").text
    assert "Dark mode for the editor" in roadmap[roadmap.index("Completed") :]
    assert status_of(app, number) == "beta"  # the slug stays
    entry = audited(app, "workflow.edit_status")
    assert entry.before["label"] == "In beta" and entry.after["label"] == "Released"
    assert (entry.before["phase"], entry.after["phase"]) == ("active", "done")


def test_a_phase_change_gives_budget_votes_back_and_takes_them_again(client, make, auth, app):
    board = make.board(votes_per_user=1)
    beta_idea = make.idea(board, make.user(), "Dark mode")
    other_idea = make.idea(board, make.user(), "Calendar sync")
    voter = make.user()
    auth.login(make.user(Role.ADMIN))
    add_status(client)
    move(client, make, auth, beta_idea, "beta")
    with app.app_context():
        cast_vote(db.session.get(User, voter.id), idea_row(beta_idea))
        db.session.commit()
    auth.login(make.user(Role.ADMIN))
    assert edit_status(client, phase="done").status_code == 303
    auth.logout()
    auth.login(voter)
    assert "1 of 1 vote left" in re.sub(r"</?strong>", "", client.get("/b/features").text)
    with app.app_context():
        drain()  # the worker tells the voter, as when an owner closes the idea
    back = "Your vote is back from “Dark mode”: use it again in Features"
    assert back in html.unescape(client.get("/notifications").text)
    client.post(f"/ideas/{other_idea}/vote")  # spends the vote that came back
    auth.logout()
    auth.login(make.user(Role.ADMIN))
    assert edit_status(client, phase="active").status_code == 303
    with app.app_context():
        assert idea_row(beta_idea).vote_count == 0  # the budget was spent on the other idea
        assert idea_row(other_idea).vote_count == 1
        reopened = db.session.scalars(
            db.select(AuditEntry).filter_by(action="workflow.edit_status").order_by(AuditEntry.id)
        ).all()[-1]
    assert reopened.after["votes_taken_back"] == {str(beta_idea): {str(voter.id): 1}}
    auth.logout()
    auth.login(voter)
    assert "“Dark mode” is open for votes again, but 1 of your votes stays" in html.unescape(
        client.get("/notifications").text
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"label": "A label far longer than forty characters, really"}, "Give it a label"),
        ({"colour": "green"}, "Pick a colour"),
        ({"phase": "shipped"}, "Choose the phase"),
    ],
)
def test_a_refused_edit_keeps_what_was_typed(client, make, auth, app, fields, message):
    auth.login(make.user(Role.ADMIN))
    add_status(client)
    typed = {"label": "Public beta", "colour": "#123456", "phase": "done", **fields}
    response = edit_status(client, **typed)
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert message in page
    assert '<details class="status-edit" open>' in page
    assert f'id="edit-beta-label" name="label" type="text" value="{typed["label"]}"' in page
    assert 'id="status-label" name="label" type="text" value=""' in page  # the add form is empty
    with app.app_context():
        assert db.session.scalar(db.select(CustomStatus.label)) == "In beta"
    assert audited(app, "workflow.edit_status") is None


def test_built_in_statuses_are_neither_changed_nor_removed(client, make, auth):
    auth.login(make.user(Role.ADMIN))
    add_status(client)
    page = client.get("/admin/workflow").text
    assert "/admin/statuses/beta/delete" in page
    assert "/admin/statuses/open" not in page and "/admin/statuses/planned" not in page
    assert edit_status(client, slug="open", label="Fresh").status_code == 404
    assert client.post("/admin/statuses/completed/delete").status_code == 404
    assert ">Open</span>" in client.get("/admin/workflow").text


def test_a_status_ideas_still_have_is_not_removed(client, make, auth, app):
    board = make.board()
    numbers = [make.idea(board, make.user(), f"Idea {n}") for n in range(3)]
    auth.login(make.user(Role.ADMIN))
    add_status(client)
    move(client, make, auth, numbers[0], "beta")
    move(client, make, auth, numbers[1], "beta")
    auth.login(make.user(Role.ADMIN))
    page = workflow_text(client)
    assert "2 ideas have this status: move them to another status first." in page
    # Which ones, so the admin can go and move them.
    assert (
        f'<a href="/ideas/{numbers[0]}">#{numbers[0]}</a>, <a href="/ideas/{numbers[1]}">' in page
    )
    assert f'href="/ideas/{numbers[2]}"' not in page
    answer = client.post("/admin/statuses/beta/delete")
    assert answer.status_code == 303
    refusal = "2 ideas have the status In beta: move them to another status first."
    assert refusal in workflow_text(client)
    with app.app_context():
        assert db.session.scalar(db.select(CustomStatus.slug)) == "beta"
    assert audited(app, "workflow.remove_status") is None


def test_an_unused_status_goes_with_its_turned_off_moves(client, make, auth, app):
    auth.login(make.user(Role.ADMIN))
    add_status(client)
    add_status(client, slug="alpha", label="In alpha")
    with app.app_context():
        db.session.add_all([BlockedTransition(source="open", target="beta"),
                            BlockedTransition(source="beta", target="alpha"),
                            BlockedTransition(source="open", target="completed")])  # fmt: skip
        db.session.commit()
    answer = client.post("/admin/statuses/beta/delete")
    assert answer.status_code == 303
    page = workflow_text(client)
    assert "Removed the status In beta." in page
    assert 'data-status="beta"' not in page and "In alpha" in page
    with app.app_context():
        blocked = db.session.execute(db.select(BlockedTransition.source, BlockedTransition.target))
        assert set(blocked) == {("open", "completed")}
    entry = audited(app, "workflow.remove_status")
    assert entry.before["slug"] == "beta" and entry.after is None
    assert entry.before["blocked"] == [["beta", "alpha"], ["open", "beta"]]
    # The slug is free again, and a new status takes its place after the others.
    assert add_status(client, label="Beta again").status_code == 303
    with app.app_context():
        order = db.session.scalars(db.select(CustomStatus.slug).order_by(CustomStatus.position))
        assert list(order) == ["alpha", "beta"]


def test_past_changes_to_a_removed_status_still_read(client, make, auth, app):
    number = make.idea(make.board(), make.user(), "Dark mode for the editor")
    auth.login(make.user(Role.ADMIN))
    add_status(client)
    move(client, make, auth, number, "beta", "planned")
    auth.login(make.user(Role.ADMIN))
    assert client.post("/admin/statuses/beta/delete").status_code == 303
    auth.logout()
    page = client.get(f"/ideas/{number}")
    assert page.status_code == 200
    assert 'data-status="beta" style="background-color: #6e7781">beta</span>' in page.text
    assert 'data-status="planned"' in page.text
    feed = client.get(f"/ideas/{number}/feed.atom")
    assert feed.status_code == 200 and "Now beta" in feed.text


def test_an_undone_merge_out_of_a_removed_status_opens_the_idea_again(client, make, auth, app):
    board = make.board()
    duplicate, original = (make.idea(board, make.user(), t) for t in ("Dark mode", "Dark theme"))
    auth.login(make.user(Role.ADMIN))
    add_status(client)
    move(client, make, auth, duplicate, "beta")
    auth.login(make.user(Role.MODERATOR))
    client.post(f"/ideas/{duplicate}/merge", data={"into": str(original)})
    auth.logout()
    auth.login(make.user(Role.ADMIN))
    assert client.post("/admin/statuses/beta/delete").status_code == 303  # no idea has it now
    with app.app_context():
        merge_id = db.session.scalar(db.select(Merge.id))
    auth.logout()
    auth.login(make.user(Role.MODERATOR))
    assert client.post(f"/merges/{merge_id}/undo").status_code == 303
    assert status_of(app, duplicate) == "open"  # not the status that no longer exists
    move(client, make, auth, duplicate, "planned")  # and it moves on as any idea does
    assert status_of(app, duplicate) == "planned"


def test_an_idea_left_in_a_removed_status_can_still_be_moved_out(client, make, auth, app):
    number = make.idea(make.board(), make.user(), "Dark mode")
    with app.app_context():  # as a removal racing a move into it could have left it
        idea_row(number).status = "gone"
        db.session.commit()
    move(client, make, auth, number, "planned")
    assert status_of(app, number) == "planned"


def test_a_move_into_a_status_removed_meanwhile_is_refused(app, make):
    from portal import statuses
    from portal.operations import Conflict
    from portal.operations.status import change_status
    from portal.operations.workflow_admin import hold_status

    number = make.idea(make.board(), make.user(), "Dark mode")
    owner = make.user(Role.OWNER)
    with app.test_request_context("/", method="POST"):
        db.session.add(CustomStatus(slug="beta", label="In beta", colour="#0a7ea4",
                                    phase="active"))  # fmt: skip
        db.session.commit()
        assert "beta" in statuses.STATUSES  # what this request read of the workflow
        assert hold_status("beta") is True  # still there: held until this transaction ends
        db.session.rollback()
        db.session.execute(db.delete(CustomStatus))
        db.session.commit()
        with pytest.raises(Conflict, match="There is no status called 'beta'"):
            change_status(db.session.get(User, owner.id), idea_row(number), "beta")
        db.session.rollback()
    assert status_of(app, number) == "open"


def test_a_slug_no_status_could_have_is_not_found(client, make, auth):
    auth.login(make.user(Role.ADMIN))
    assert client.post("/admin/statuses/a%00b/delete").status_code == 404
    assert edit_status(client, slug="a%00b").status_code == 404


def test_a_move_goes_by_the_phase_the_status_has_now_not_the_one_read_earlier(app):
    from portal import statuses
    from portal.operations.workflow_admin import hold_status

    with app.test_request_context("/"):
        db.session.add(CustomStatus(slug="beta", label="In beta", colour="#0a7ea4",
                                    phase="done"))  # fmt: skip
        db.session.commit()
        assert statuses.accepts_votes("beta") is False  # what this request read
        db.session.execute(db.update(CustomStatus).values(phase="active"))  # an admin, meanwhile
        db.session.commit()
        assert statuses.accepts_votes("beta") is False
        assert hold_status("beta") is True  # the row held for the move says it takes votes
        db.session.rollback()
