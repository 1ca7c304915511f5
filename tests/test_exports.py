"""Data leaves as files: admins export every idea as CSV, and each person downloads their
own data as JSON (SPEC sections 1 and 4)."""

import csv
import io
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import (
    AuditEntry,
    Category,
    Comment,
    Idea,
    Notification,
    Role,
    User,
    Vote,
    utcnow,
)
from portal.operations.comments import add_comment
from portal.operations.flags import flag
from portal.operations.merges import merge_ideas
from portal.operations.status import change_status
from portal.operations.votes import cast_vote

COLUMNS = [
    "number", "title", "board", "category", "status", "status_label", "vote_count", "voters",
    "comment_count", "author_name", "author_email", "created_at", "updated_at",
    "status_changed_at", "merged_into", "hidden", "held", "deleted", "url",
]  # fmt: skip


def load(app, model, **where):
    with app.app_context():
        return db.session.scalar(db.select(model).filter_by(**where))


def act(app, operation, user, number, *args, **kwargs) -> None:
    """Run operation as user on the idea numbered number, and commit, as a view does."""
    with app.app_context():
        target = db.session.scalar(db.select(Idea).filter_by(number=number))
        operation(db.session.get(User, user.id), target, *args, **kwargs)
        db.session.commit()


def read_csv(body: bytes) -> list[dict]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")  # so Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


# -- the CSV export of ideas ------------------------------------------------------------


@pytest.fixture
def site(make, app):
    """Two boards, ideas in every state, votes from several people and a status change."""
    features = make.board("features", max_votes_per_idea=3)
    mobile = make.board("mobile", categories=())
    ada = make.user(name="Ada Größe", email="ada@example.com")
    bob = make.user(name="Bob", email="bob@example.com")
    owner = make.user(Role.OWNER, name="Olga")
    numbers = {
        "open": make.idea(features, ada, "Größere Schrift für Ältere"),
        "planned": make.idea(features, bob, "Dark mode 🌙"),
        "hidden": make.idea(features, ada, "Hidden idea", is_hidden=True),
        "held": make.idea(features, bob, "Held idea", is_held=True),
        "deleted": make.idea(mobile, ada, "Deleted idea", is_deleted=True),
        "mobile": make.idea(mobile, bob, "Offline mode"),
        "duplicate": make.idea(features, ada, "A night theme"),
    }
    with app.app_context():
        reporting = db.session.scalar(db.select(Category.id).filter_by(slug="reporting"))
        db.session.execute(
            db.update(Idea).filter_by(number=numbers["open"]).values(category_id=reporting)
        )
        db.session.commit()
    act(app, cast_vote, ada, numbers["planned"], 3)
    act(app, cast_vote, bob, numbers["planned"], 1)
    act(app, cast_vote, bob, numbers["open"], 2)
    act(app, change_status, owner, numbers["planned"], "planned", "Next quarter.")
    moderator = make.user(Role.MODERATOR)
    with app.app_context():
        source, target = (
            db.session.scalar(db.select(Idea).filter_by(number=numbers[name]))
            for name in ("duplicate", "planned")
        )
        merge_ideas(db.session.get(User, moderator.id), source, target)
        db.session.commit()
    return numbers


def test_an_admin_exports_every_idea_as_the_database_holds_it(client, make, auth, app, site):
    auth.login(make.user(Role.ADMIN))
    response = client.get("/admin/export/ideas.csv")

    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="ideas-{utcnow():%Y-%m-%d}.csv"'
    rows = read_csv(response.data)
    assert [int(row["number"]) for row in rows] == sorted(site.values())
    with app.app_context():
        for row in rows:
            stored = db.session.scalar(db.select(Idea).filter_by(number=int(row["number"])))
            votes = db.session.scalars(db.select(Vote).filter_by(idea_id=stored.id)).all()
            assert row["title"] == stored.title
            assert row["status"] == stored.status and row["board"] == stored.board.slug
            assert int(row["vote_count"]) == stored.vote_count == sum(v.weight for v in votes)
            assert int(row["voters"]) == len(votes)
            assert row["author_email"] == stored.author.email
            assert [row["hidden"], row["held"], row["deleted"]] == [
                "yes" if state else "no"
                for state in (stored.is_hidden, stored.is_held, stored.is_deleted)
            ]
    planned = next(row for row in rows if row["number"] == str(site["planned"]))
    assert planned | {"created_at": "", "updated_at": "", "status_changed_at": ""} == {
        "number": str(site["planned"]), "title": "Dark mode 🌙", "board": "features",
        "category": "", "status": "planned", "status_label": "Planned", "vote_count": "4",
        "voters": "2", "comment_count": "0", "author_name": "Bob",
        "author_email": "bob@example.com", "created_at": "", "updated_at": "",
        "status_changed_at": "", "merged_into": "", "hidden": "no", "held": "no",
        "deleted": "no", "url": f"http://localhost/ideas/{site['planned']}",
    }  # fmt: skip
    assert planned["status_changed_at"].endswith("Z") and "T" in planned["created_at"]
    duplicate = next(row for row in rows if row["number"] == str(site["duplicate"]))
    assert (duplicate["status"], duplicate["merged_into"]) == ("duplicate", str(site["planned"]))
    first = next(row for row in rows if row["number"] == str(site["open"]))
    assert (first["title"], first["category"]) == ("Größere Schrift für Ältere", "reporting")


def test_the_export_is_written_in_the_audit_log(client, make, auth, app, site):
    admin = make.user(Role.ADMIN)
    auth.login(admin)
    client.get("/admin/export/ideas.csv?board=mobile").close()
    entry = load(app, AuditEntry, action="ideas.export")
    assert (entry.actor_id, entry.target_type, entry.after) == (
        admin.id,
        "ideas",
        {"board": "mobile"},
    )


def test_one_boards_ideas(client, make, auth, site):
    auth.login(make.user(Role.ADMIN))
    response = client.get("/admin/export/ideas.csv?board=mobile")
    assert (
        f'filename="ideas-mobile-{utcnow():%Y-%m-%d}.csv"'
        in response.headers["Content-Disposition"]
    )
    assert [row["title"] for row in read_csv(response.data)] == ["Deleted idea", "Offline mode"]
    assert client.get("/admin/export/ideas.csv?board=nowhere").status_code == 404
    # A NUL byte is stripped on the way in (portal/incoming.py): "nowhere" again.
    assert client.get("/admin/export/ideas.csv?board=no%00where").status_code == 404


def test_an_empty_site_exports_just_the_header(client, make, auth):
    auth.login(make.user(Role.ADMIN))
    assert read_csv(client.get("/admin/export/ideas.csv").data) == []


@pytest.mark.parametrize(
    "hostile",
    [
        '=HYPERLINK("http://evil.example","Click")',
        "+SUM(A1:A9)",
        "-2+3 is what I need",
        "@cmd|' /C calc'!A0",
    ],
)
def test_cells_never_run_as_spreadsheet_formulas(client, make, auth, hostile):
    author = make.user(name=hostile, email="eve@example.com")
    tabbed = make.user(name="\tTab first", email="tab@example.com")
    board = make.board()
    make.idea(board, author, hostile)
    make.idea(board, tabbed, "Carriage return name")
    auth.login(make.user(Role.ADMIN))
    rows = read_csv(client.get("/admin/export/ideas.csv").data)
    assert (rows[0]["title"], rows[0]["author_name"]) == ("'" + hostile, "'" + hostile)
    assert rows[1]["author_name"] == "'\tTab first"
    assert rows[0]["vote_count"] == "0"  # numbers stay numbers


def test_a_large_export_streams_in_chunks(client, make, auth, app):
    board_id = make.board()
    author = make.user()
    with app.app_context():
        now = utcnow()
        db.session.execute(
            db.insert(Idea),
            [
                {
                    "number": n,
                    "board_id": board_id,
                    "author_id": author.id,
                    "title": f"Idea number {n}",
                    "created_at": now,
                    "updated_at": now,
                }  # fmt: skip
                for n in range(1, 1201)
            ],
        )
        db.session.commit()
    auth.login(make.user(Role.ADMIN))
    response = client.get("/admin/export/ideas.csv")
    chunks = list(response.response)
    assert len(chunks) >= 3  # 500 rows a chunk, not one string of everything
    rows = read_csv(b"".join(chunks))
    assert len(rows) == 1200 and rows[-1]["title"] == "Idea number 1200"


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MODERATOR, Role.OWNER])
def test_only_admins_export_ideas(client, make, auth, app, role):
    make.idea(make.board(), make.user())
    auth.login(make.user(role))
    assert client.get("/admin/export/ideas.csv").status_code == 403
    assert client.get("/admin/boards").status_code == 403
    assert load(app, AuditEntry, action="ideas.export") is None


def test_visitors_are_sent_to_sign_in(client):
    response = client.get("/admin/export/ideas.csv")
    assert response.status_code == 303 and "/signin" in response.headers["Location"]


def test_the_admin_pages_offer_the_export(client, make, auth):
    make.board("features")
    auth.login(make.user(Role.ADMIN))
    assert 'href="/admin/export/ideas.csv"' in client.get("/admin/boards").text
    assert (
        'href="/admin/export/ideas.csv?board=features"' in client.get("/admin/boards/features").text
    )


# -- a person's own data ----------------------------------------------------------------


@pytest.fixture
def people(make, app):
    """Me, someone else and the product team, with content of each on each other's ideas."""
    board = make.board()
    me = make.user(name="Mia Meier", email="mia@example.com")
    other = make.user(name="Otto Other", email="otto-secret@example.com")
    owner = make.user(Role.OWNER, name="Olga Owner", email="olga-secret@example.com")
    mine = make.idea(board, me, "My public idea")
    held = make.idea(board, me, "My idea in the queue", is_held=True)
    hidden = make.idea(board, me, "My hidden idea", is_hidden=True)
    theirs = make.idea(board, other, "Otto's idea")
    withdrawn = make.idea(board, other, "Otto's idea that a moderator hid")
    act(app, cast_vote, me, theirs)
    act(app, cast_vote, me, withdrawn)
    act(app, cast_vote, other, mine)
    act(app, add_comment, me, theirs, "My comment on Otto's idea.")
    act(app, add_comment, other, mine, "Otto's private-ish comment on Mia's idea.")
    act(app, add_comment, owner, mine, "Internal: Olga's note on Mia.", internal=True)
    act(app, change_status, owner, mine, "planned", "Olga plans it.")
    with app.app_context():
        comment = db.session.scalar(db.select(Comment).filter_by(author_id=other.id))
        flag(db.session.get(User, me.id), comment, "spam")
        db.session.commit()
    with app.app_context():
        db.session.execute(db.update(Idea).filter_by(number=withdrawn).values(is_hidden=True))
        mine_id = db.session.scalar(db.select(Idea.id).filter_by(number=mine))
        db.session.add(Notification(user_id=me.id, idea_id=mine_id, kind="status",
                                    text="Your idea is now Planned."))  # fmt: skip
        db.session.add(Notification(user_id=other.id, kind="status", text="Otto's notice."))
        db.session.commit()
    return {"me": me, "other": other, "owner": owner, "mine": mine, "held": held,
            "hidden": hidden, "theirs": theirs, "withdrawn": withdrawn}  # fmt: skip


def export(client) -> tuple[dict, str]:
    response = client.get("/account/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="my-data-')
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json(), response.text


def test_my_data_holds_exactly_my_own_content_and_votes(client, auth, app, people):
    auth.login(people["me"])
    data, text = export(client)

    assert data["profile"] | {"id": 0, "created_at": "", "email_verified_at": ""} == {
        "id": 0, "name": "Mia Meier", "email": "mia@example.com", "role": "customer",
        "created_at": "", "email_verified_at": "", "blocked": False,
        "preferences": {"email_preference": "all", "email_frequency": "instant"},
    }  # fmt: skip
    assert [(i["number"], i["title"], i["held"], i["hidden"]) for i in data["ideas"]] == [
        (people["mine"], "My public idea", False, False),
        (people["held"], "My idea in the queue", True, False),
        (people["hidden"], "My hidden idea", False, True),
    ]
    assert data["ideas"][0]["status"] == "planned" and data["ideas"][0]["vote_count"] == 1
    assert [c["body"] for c in data["comments"]] == ["My comment on Otto's idea."]
    # Otto's idea hidden since is no longer Mia's to see: her vote and follow go with it.
    assert [(v["idea"]["number"], v["idea"]["title"], v["weight"]) for v in data["votes"]] == [
        (people["theirs"], "Otto's idea", 1),
    ]
    assert {s["idea"]["number"] for s in data["subscriptions"]} == {
        people["mine"],
        people["held"],
        people["hidden"],
        people["theirs"],
    }
    assert [(f["target"], f["reason"], f["idea"]["number"]) for f in data["flags"]] == [
        ("comment", "spam", people["mine"])
    ]
    assert [n["text"] for n in data["notifications"]] == ["Your idea is now Planned."]
    assert data["status_changes"] == []
    others = ["otto-secret@", "olga-secret@", "Internal: Olga", "Otto's private-ish",
              "Otto's notice", "that a moderator hid", "password", "pbkdf2", "scrypt"]  # fmt: skip
    for secret in others:
        assert secret not in text, secret


def test_an_owners_data_holds_their_own_notes_and_answers(client, auth, people):
    auth.login(people["owner"])
    data, text = export(client)
    assert [(c["body"], c["internal"]) for c in data["comments"]] == [
        ("Internal: Olga's note on Mia.", True)
    ]
    assert [(s["idea"]["number"], s["to"], s["response"]) for s in data["status_changes"]] == [
        (people["mine"], "planned", "Olga plans it.")
    ]
    assert data["ideas"] == [] and data["votes"] == []
    assert "mia@example.com" not in text and "otto-secret@" not in text


def test_my_data_needs_signing_in(client):
    response = client.get("/account/export.json")
    assert response.status_code == 303 and "/signin" in response.headers["Location"]


def test_the_profile_page_offers_my_data(client, make, auth):
    auth.login(make.user())
    assert 'href="/account/export.json"' in client.get("/me").text


def test_deleted_authors_keep_their_email_out_of_the_csv(client, make, auth, app):
    gone = make.user(name="Gone", email="gone@example.com", deleted_at=utcnow() - timedelta(days=1))
    board = make.board()
    with app.app_context():  # posted before the account was deleted
        db.session.add(Idea(number=1, board_id=board, author_id=gone.id, title="Old idea"))
        db.session.commit()
    auth.login(make.user(Role.ADMIN))
    row = read_csv(client.get("/admin/export/ideas.csv").data)[0]
    assert (row["author_name"], row["author_email"]) == ("Deleted user", "")
