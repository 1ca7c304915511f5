"""Admins set up the site: boards, categories, roles and settings (issue 4, point 7)."""

import html

import pytest

from portal.extensions import db
from portal.models import AuditEntry, Board, Role, User

PAGES = ["/admin/boards", "/admin/users", "/admin/site", "/admin/workflow"]


def test_categories_may_be_named_in_any_script(client, make, auth, app):
    make.board("features", categories=())
    auth.login(make.user(Role.ADMIN))
    for name in ("Übersicht", "日本語", "Ελληνικά", "Übersicht"):
        client.post("/admin/boards/features/categories", data={"name": name})
    with app.app_context():
        board = db.session.scalar(db.select(Board).filter_by(slug="features"))
        slugs = {c.name: c.slug for c in board.categories}
    assert slugs == {"Übersicht": "ubersicht", "日本語": "category-1", "Ελληνικά": "category-2"}
    page = client.get("/b/features?category=category-1").text
    assert 'value="category-1" selected' in page


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_see_and_change_the_setup(client, make, auth, role):
    make.board()
    auth.login(make.user(role))
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/boards", data={"name": "X", "slug": "x"}).status_code == 403
    assert client.post("/admin/site", data={"site_name": "Mine"}).status_code == 403


def test_an_admin_creates_and_sets_up_a_board(client, make, auth, app):
    auth.login(make.user(Role.ADMIN))
    created = client.post("/admin/boards", data={"name": "Mobile app", "slug": "mobile-app"})
    assert created.status_code == 303
    saved = client.post(
        "/admin/boards/mobile-app",
        data={"name": "Mobile app", "description": "iOS and Android.", "votes_per_user": "10",
              "max_votes_per_idea": "3", "is_private": "1"},
    )  # fmt: skip
    assert saved.status_code == 303
    client.post("/admin/boards/mobile-app/categories", data={"name": "Push notifications"})
    with app.app_context():
        board = db.session.scalar(db.select(Board).filter_by(slug="mobile-app"))
        assert (board.votes_per_user, board.max_votes_per_idea, board.is_private) == (10, 3, True)
        assert [c.name for c in board.categories] == ["Push notifications"]
        assert db.session.scalar(db.select(db.func.count(AuditEntry.id))) >= 3
    auth.logout()
    assert client.get("/b/mobile-app").status_code == 404  # private now


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "slug": "ok"}, "Give the board a name"),
        ({"name": "Web", "slug": "Web App"}, "Lowercase letters, digits and hyphens"),
        ({"name": "Web", "slug": "features"}, "Another board has this address."),
    ],
)
def test_bad_boards_are_refused_and_nothing_is_lost(client, make, auth, data, message):
    make.board("features")
    auth.login(make.user(Role.ADMIN))
    response = client.post("/admin/boards", data=data)
    assert response.status_code == 422
    assert message in html.unescape(response.text)
    assert f'value="{data["name"]}"' in response.text


def test_vote_settings_are_checked(client, make, auth):
    make.board("features")
    auth.login(make.user(Role.ADMIN))
    response = client.post(
        "/admin/boards/features", data={"name": "Features", "max_votes_per_idea": "7"}
    )
    assert response.status_code == 422 and "A whole number from 1 to 3." in response.text


def test_an_admin_gives_roles_but_never_loses_their_own(client, make, auth, app):
    admin = make.user(Role.ADMIN)
    customer = make.user(name="Carla")
    auth.login(admin)
    assert "Carla" in client.get("/admin/users?q=carl").text
    client.post(f"/admin/users/{customer.id}/role", data={"role": str(int(Role.OWNER))})
    refused = client.post(
        f"/admin/users/{admin.id}/role", data={"role": "1"}, follow_redirects=True
    )
    assert "You cannot take away your own admin rights." in refused.text
    with app.app_context():
        assert db.session.get(User, customer.id).role == Role.OWNER
        assert db.session.get(User, admin.id).role == Role.ADMIN


def test_site_settings_show_everywhere(client, make, auth):
    make.board("features")
    auth.login(make.user(Role.ADMIN))
    saved = client.post(
        "/admin/site",
        data={"site_name": "Acme Ideas", "accent": "#7b3fe4",
              "guidelines": "Be **kind**. One idea per post."},
    )  # fmt: skip
    assert saved.status_code == 303
    auth.logout()
    page = client.get("/").text
    assert "<title>Boards · Acme Ideas</title>" in page and "--accent: #7b3fe4" in page
    auth.login(make.user())
    form = client.get("/b/features/new").text
    assert "Be <strong>kind</strong>. One idea per post." in form


def test_bad_site_settings_are_refused(client, make, auth):
    auth.login(make.user(Role.ADMIN))
    response = client.post("/admin/site", data={"site_name": "", "accent": "purple"})
    assert response.status_code == 422
    assert "A name of at most 80 characters." in response.text
    assert "Pick a colour such as #1f6feb." in response.text
