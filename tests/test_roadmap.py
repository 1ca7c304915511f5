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


def card_titles(html: str) -> list[str]:
    return re.findall(r'<li class="lane-card">\s*<a href="[^"]+">([^<]+)</a>', html)


def test_a_long_lane_shows_its_top_ideas_and_the_rest_on_show_more(client, make, app):
    board, author = make.board(), make.user()
    for n in range(13):
        number = make.idea(board, author, f"Planned idea {n:02d}", vote_count=n)
        set_status(app, number, "planned")
    set_status(app, make.idea(board, author, "Started idea"), "started")
    page = client.get("/roadmap").text
    planned = lane(page, "Planned")
    top = [f"Planned idea {n:02d}" for n in range(12, 2, -1)]
    assert card_titles(planned) == top  # most votes first, ten of thirteen
    assert '<span class="lane-count">13</span>' in planned
    assert "Show more" not in lane(page, "In progress")
    (more,) = re.findall(r'<a href="([^"]+)" hx-get="[^"]+"[^>]*>Show more \(3\)</a>', planned)
    full = client.get(more.replace("&amp;", "&")).text  # no JavaScript: the lane's own page
    assert card_titles(lane(full, "Planned")) == [*top, "Planned idea 02", "Planned idea 01",
                                                  "Planned idea 00"]  # fmt: skip
    assert "Started idea" not in full
    in_place = client.get(more.replace("&amp;", "&"), headers=htmx_headers()).text
    assert "<html" not in in_place and 'id="lane-planned"' in in_place
    assert len(card_titles(in_place)) == 13
    assert 'hx-select="#lane-planned"' in planned and 'hx-target="#lane-planned"' in planned


def test_a_lane_in_full_comes_in_pages(client, make, app, monkeypatch):
    monkeypatch.setattr("portal.views.roadmap.LANE_PAGE", 4)
    board, author = make.board("web"), make.user()
    for n in range(6):
        set_status(app, make.idea(board, author, f"Started idea {n}", vote_count=n), "started")
    first = client.get("/roadmap?lane=in_progress&board=web").text
    assert card_titles(first) == [f"Started idea {n}" for n in (5, 4, 3, 2)]
    (after,) = re.findall(r'<a rel="next" href="([^"]+)"', first)
    second = client.get(after.replace("&amp;", "&")).text
    assert card_titles(second) == ["Started idea 1", "Started idea 0"]
    assert 'rel="next"' not in second
