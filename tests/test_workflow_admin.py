"""Admins add their own statuses and narrow the allowed moves (issue 4, point 2)."""

import html

import pytest

from portal.extensions import db
from portal.models import AuditEntry, Idea, Role


def add_status(client, **fields):
    data = {"slug": "beta", "label": "In beta", "colour": "#0a7ea4", "phase": "active", **fields}
    return client.post("/admin/statuses", data=data)


def status_of(app, number) -> str:
    with app.app_context():
        return db.session.scalar(db.select(Idea.status).filter_by(number=number))


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_shape_the_workflow(client, make, auth, role):
    auth.login(make.user(role))
    assert client.get("/admin/workflow").status_code == 403
    assert add_status(client).status_code == 403
    assert client.post("/admin/transitions", data={}).status_code == 403


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
