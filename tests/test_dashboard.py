"""The product team's dashboard and assignments (issue 4, points 3 and 6)."""

import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.insights import sparkline, votes_over_time
from portal.models import AuditEntry, Comment, Idea, Role, StatusChange, User, Vote, utcnow


def idea_id(app, number) -> int:
    with app.app_context():
        return db.session.scalar(db.select(Idea.id).filter_by(number=number))


def answered(app, number, hours_after: float, official_comment=False) -> None:
    """Backdate the idea and give it its first official answer `hours_after` posting."""
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        idea.created_at = utcnow() - timedelta(days=5)
        owner = db.session.scalar(db.select(User).where(User.role_value >= int(Role.OWNER)))
        at = idea.created_at + timedelta(hours=hours_after)
        common = {"idea_id": idea.id, "author_id": owner.id, "created_at": at}
        if official_comment:
            answer = Comment(body="Thanks!", body_html="<p>Thanks!</p>", is_official=True, **common)
        else:
            answer = StatusChange(
                from_status="open", to_status="under_review", response="Looking.",
                response_html="<p>Looking.</p>", **common,
            )  # fmt: skip
        db.session.add(answer)
        db.session.commit()


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR])
def test_only_product_owners_see_the_dashboard(client, make, auth, role):
    auth.login(make.user(role))
    assert client.get("/dashboard").status_code == 403
    assert "Dashboard" not in client.get("/").text


def test_waiting_ideas_most_votes_first_answered_ones_left_out(client, make, auth, app):
    board, author = make.board(), make.user()
    owner = make.user(Role.OWNER, name="Olga")
    quiet = make.idea(board, author, "Quiet idea")
    make.idea(board, author, "Popular idea", vote_count=9)
    done = make.idea(board, author, "Answered idea", vote_count=20)
    make.idea(board, author, "Declined idea", status="declined")
    answered(app, done, hours_after=30, official_comment=True)
    auth.login(owner)
    page = client.get("/dashboard").text
    waiting = page[page.index("Waiting for an answer") :]
    assert waiting.index("Popular idea") < waiting.index("Quiet idea")
    assert "Answered idea" not in waiting and "Declined idea" not in waiting
    assert re.search(r"30 hours", page)  # the median over the one answered idea
    assert quiet


def test_median_answer_time_is_the_teams_public_promise(client, make, app):
    board, author = make.board(), make.user()
    make.user(Role.OWNER)
    numbers = [make.idea(board, author, f"Idea {n}") for n in range(3)]
    for hours, number in zip((2, 30, 70), numbers, strict=True):
        answered(app, number, hours_after=hours)
    assert "answers new ideas in a median of <strong>30 hours</strong>" in client.get("/").text


def test_an_owner_assigns_an_idea_and_filters_by_it(client, make, auth, app):
    board, author = make.board(), make.user()
    olga, omar = make.user(Role.OWNER, name="Olga"), make.user(Role.OWNER, name="Omar")
    mine = make.idea(board, author, "Mine to answer")
    make.idea(board, author, "Someone else's")
    auth.login(olga)
    response = client.post(f"/ideas/{mine}/assignee", data={"assignee": str(olga.id)})
    assert response.status_code == 303
    assert "Assigned to Olga." in client.get(response.headers["Location"]).text
    page = client.get("/dashboard?mine=1").text
    assert "Mine to answer" in page and "Someone else" not in page
    # Customers cannot be made responsible, and customers cannot assign.
    assert (
        "Ideas are assigned to product owners."
        in client.post(
            f"/ideas/{mine}/assignee", data={"assignee": str(author.id)}, follow_redirects=True
        ).text
    )
    with app.app_context():
        assert db.session.scalar(db.select(AuditEntry).filter_by(action="idea.assign"))
    auth.logout()
    auth.login(author)
    assert client.post(f"/ideas/{mine}/assignee", data={"assignee": ""}).status_code == 403
    with app.app_context():
        assert db.session.scalar(db.select(Idea.assignee_id).filter_by(number=mine)) == olga.id
    assert omar


def test_votes_over_time_and_its_chart(make, app, ctx):
    number = make.idea(make.board(), make.user(), "Charted")
    voters = [make.user() for _ in range(3)]
    target = idea_id(app, number)
    for days_ago, voter in zip((40, 10, 1), voters, strict=True):
        db.session.add(Vote(user_id=voter.id, idea_id=target, weight=1,
                            created_at=utcnow() - timedelta(days=days_ago)))  # fmt: skip
    db.session.commit()
    counts = votes_over_time([target])[target]
    assert counts[0] == 1 and counts[-1] == 3 and counts == sorted(counts)
    points = sparkline(counts).split()
    assert len(points) == 30 and points[-1].endswith(",2.0")  # the highest point at the top
