"""The roadmap and the changelog show what the team works on and shipped (issue 4, point 4)."""

import re
from datetime import timedelta

from conftest import htmx_headers
from portal.extensions import db
from portal.models import Idea, Role, utcnow


def lane(page: str, title: str) -> str:
    """The HTML of one roadmap lane."""
    found = re.search(rf'<h2 id="lane-\d">{title} .*?</section>', page, re.S)
    assert found, f"no lane {title!r}"
    return found.group(0)


def set_status(app, number, status, days_ago=0):
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        idea.status = status
        idea.status_changed_at = utcnow() - timedelta(days=days_ago)
        db.session.commit()


def test_lanes_hold_planned_started_and_recently_completed(client, make, app):
    board, author = make.board(), make.user()
    ideas = {
        name: make.idea(board, author, title)
        for name, title in [
            ("planned", "Dark mode for the editor"),
            ("started", "Export reports as CSV"),
            ("fresh", "Calendar sync with Outlook"),
            ("old", "Bulk edit of tags"),
            ("open", "Push notifications"),
        ]
    }
    set_status(app, ideas["planned"], "planned", days_ago=3)
    set_status(app, ideas["started"], "started")
    set_status(app, ideas["fresh"], "completed", days_ago=10)
    set_status(app, ideas["old"], "completed", days_ago=120)
    page = client.get("/roadmap").text
    assert "Dark mode for the editor" in lane(page, "Planned")
    assert "Export reports as CSV" in lane(page, "In progress")
    completed = lane(page, "Completed")
    assert "Calendar sync with Outlook" in completed
    assert "Bulk edit of tags" not in page  # completed more than 90 days ago
    assert "Push notifications" not in page  # still open
    card = re.sub(r"<[^>]+>", "", completed)
    assert "0 votes" in card and "since" in card


def test_the_roadmap_filters_by_board_and_hides_private_ones(client, make, auth, app):
    author = make.user()
    web = make.idea(make.board("web"), author, "Dark mode for the editor")
    mobile = make.idea(make.board("mobile", categories=()), author, "Offline mode")
    secret = make.idea(make.board("lab", is_private=True), author, "Secret experiment")
    for number in (web, mobile, secret):
        set_status(app, number, "planned")
    everything = client.get("/roadmap").text
    assert "Dark mode" in everything and "Offline mode" in everything
    assert "Secret experiment" not in everything
    only_web = client.get("/roadmap?board=web", headers=htmx_headers())
    assert "<html" not in only_web.text
    assert "Dark mode" in only_web.text and "Offline mode" not in only_web.text
    assert "Secret experiment" not in client.get("/roadmap?board=lab").text
    auth.login(make.user(Role.MODERATOR))
    assert "Secret experiment" in client.get("/roadmap?board=lab").text


def test_the_changelog_and_its_feed_tell_what_shipped(client, make, auth, app):
    number = make.idea(make.board(), make.user(), "Export reports as CSV")
    hidden = make.idea(make.board("other"), make.user(), "Hidden idea", is_hidden=True)
    set_status(app, hidden, "completed")
    auth.login(make.user(Role.OWNER))
    client.post(
        f"/ideas/{number}/status",
        data={"status": "completed", "response": "Shipped in **4.2**."},
    )
    auth.logout()
    page = client.get("/changelog").text
    assert "Export reports as CSV" in page and "<strong>4.2</strong>" in page
    assert "Hidden idea" not in page
    feed = client.get("/changelog.atom")
    assert feed.headers["Content-Type"].startswith("application/atom+xml")
    assert feed.text.count("<entry>") == 1
    assert "Export reports as CSV" in feed.text and "&lt;strong&gt;4.2&lt;/strong&gt;" in feed.text
