"""Visitors browse boards and ideas: sorting, filters, paging, private boards."""

import re

import pytest

from conftest import htmx_headers
from portal.extensions import db
from portal.models import Idea, Role


def test_board_list_shows_public_boards_only(client, make):
    make.board("features", name="Feature requests")
    make.board("sandbox", name="Staff sandbox", is_private=True)
    page = client.get("/").text
    assert "Feature requests" in page
    assert "Staff sandbox" not in page
    assert client.get("/b/sandbox").status_code == 404


def test_staff_see_private_board(client, make, auth):
    make.board("sandbox", name="Staff sandbox", is_private=True)
    auth.login(make.user(Role.MODERATOR))
    assert "Staff sandbox" in client.get("/").text
    assert client.get("/b/sandbox").status_code == 200


@pytest.mark.parametrize(
    ("sort", "first"),
    [("top", "Most voted idea"), ("new", "Newest idea"), ("comments", "Most discussed idea")],
)
def test_board_sorts(client, make, app, sort, first):
    board = make.board()
    author = make.user()
    make.idea(board, author, "Most voted idea", vote_count=40)
    make.idea(board, author, "Most discussed idea", comment_count=12)
    make.idea(board, author, "Newest idea")
    page = client.get(f"/b/features?sort={sort}").text
    titles = [t for t in ("Most voted idea", "Most discussed idea", "Newest idea") if t in page]
    assert sorted(titles, key=page.index)[0] == first


def test_filter_by_status_and_category(client, make, app):
    board = make.board()
    author = make.user()
    make.idea(board, author, "Planned thing here", status="planned")
    make.idea(board, author, "Open thing here")
    page = client.get("/b/features?status=planned").text
    assert "Planned thing here" in page and "Open thing here" not in page
    with app.app_context():
        category = db.session.scalar(db.select(Idea)).board.categories[0]
        slug = category.slug
        idea = db.session.scalar(db.select(Idea).filter_by(title="Open thing here"))
        idea.category_id = category.id
        db.session.commit()
    page = client.get(f"/b/features?category={slug}").text
    assert "Open thing here" in page and "Planned thing here" not in page


def test_paging_and_fragment(client, make, app):
    board = make.board()
    author = make.user()
    for n in range(25):
        make.idea(board, author, f"Idea number {n:02d}")
    first = client.get("/b/features?sort=new")
    assert "Idea number 24" in first.text and "Idea number 04" not in first.text
    assert 'rel="next"' in first.text
    second = client.get("/b/features?sort=new&page=2", headers=htmx_headers())
    assert "<html" not in second.text  # the fragment only
    assert 'id="idea-list"' in second.text
    assert "Idea number 04" in second.text and "Idea number 24" not in second.text
    assert "HX-Request" in second.headers["Vary"]


def test_trending_prefers_recent_support(client, make, app):
    board = make.board()
    author = make.user()
    make.idea(board, author, "Quiet idea")
    loud = make.idea(board, author, "Loud idea")
    voters = [make.user() for _ in range(5)]
    for voter in voters:
        auth_client = app.test_client()
        auth_client.post(
            "/signin", data={"email": voter.email, "password": "correct horse battery"}
        )
        auth_client.post(f"/ideas/{loud}/vote")
    page = client.get("/b/features").text
    assert page.index("Loud idea") < page.index("Quiet idea")


def test_idea_page_and_unknown_number(client, make):
    board = make.board()
    number = make.idea(make.board("other") and board, make.user(), "Dark mode for the editor")
    response = client.get(f"/ideas/{number}")
    assert response.status_code == 200
    assert "Dark mode for the editor" in response.text
    assert client.get(f"/ideas/{number}-dark-mode").status_code == 200
    assert client.get("/ideas/999999").status_code == 404
    assert "Not found" in client.get("/ideas/999999").text


def test_visitors_get_no_session_cookie(client, make):
    """Browsing signed out creates no session, so such pages can be cached."""
    number = make.idea(make.board(), make.user())
    for path in ("/", "/b/features", f"/ideas/{number}", "/search?q=export"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers, path


def titles_in_order(page: str, titles) -> list[str]:
    """The titles that the page lists, in the order it lists them."""
    return sorted((t for t in titles if t in page), key=page.index)


def test_the_default_board_lists_ideas_open_for_votes_and_the_filter_the_closed(client, make):
    board, author = make.board(), make.user()
    make.idea(board, author, "Shipped long ago", status="completed", vote_count=90)
    make.idea(board, author, "Turned down politely", status="declined", vote_count=80)
    make.idea(board, author, "Planned for spring", status="planned", vote_count=5)
    make.idea(board, author, "Fresh open wish", vote_count=2)
    everything = ["Shipped long ago", "Turned down politely", "Planned for spring",
                  "Fresh open wish"]  # fmt: skip
    for path in ("/b/features", "/b/features?sort=top", "/b/features?status=open-for-votes"):
        page = client.get(path).text
        assert titles_in_order(page, everything) == ["Planned for spring", "Fresh open wish"]
        assert '<option value="open-for-votes" selected>' in page
    fragment = client.get("/b/features?sort=new", headers=htmx_headers()).text
    assert "<html" not in fragment
    assert titles_in_order(fragment, everything) == ["Fresh open wish", "Planned for spring"]
    closed = client.get("/b/features?sort=top&status=closed-for-votes").text
    assert titles_in_order(closed, everything) == ["Shipped long ago", "Turned down politely"]
    assert '<option value="closed-for-votes" selected>' in closed
    only = client.get("/b/features?status=completed").text
    assert titles_in_order(only, everything) == ["Shipped long ago"]
    any_status = client.get("/b/features?sort=top&status=").text  # "Any status"
    assert titles_in_order(any_status, everything) == everything
    unknown = client.get("/b/features?status=no_such_status").text
    assert titles_in_order(unknown, everything) == ["Planned for spring", "Fresh open wish"]


def test_the_default_board_pages_through_open_ideas_only(client, make):
    board, author = make.board(), make.user()
    for n in range(25):
        make.idea(board, author, f"Open idea {n:02d}")
    make.idea(board, author, "Done and dusted", status="completed")
    first = client.get("/b/features?sort=new").text
    assert "Done and dusted" not in first
    (next_url,) = re.findall(r'<a rel="next" href="([^"]+)"', first)
    second = client.get(next_url.replace("&amp;", "&")).text
    assert "Open idea 04" in second and "Done and dusted" not in second


def test_a_board_with_only_closed_ideas_points_to_them(client, make):
    board, author = make.board(), make.user()
    make.idea(board, author, "Shipped long ago", status="completed")
    page = client.get("/b/features").text
    assert "Shipped long ago" not in page
    assert "No ideas are open for votes yet" in page
    (closed_url,) = re.findall(r'<a href="([^"]+)">see the closed ones</a>', page)
    assert "Shipped long ago" in client.get(closed_url.replace("&amp;", "&")).text
    make.board("empty", categories=())
    assert "No ideas yet" in client.get("/b/empty").text
