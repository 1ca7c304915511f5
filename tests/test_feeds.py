"""Atom feeds for a board's new ideas, an idea's status history and the changelog: valid
RFC 4287, safe with hostile text, and never showing what customers may not see."""

import re
from datetime import timedelta

import pytest
from atom import ATOM, assert_valid, validate

from portal.extensions import db
from portal.models import Comment, Idea, Role, utcnow

NS = {"atom": ATOM}
HOSTILE = "<script>alert(1)</script> & ]]>"
EMOJI = "Dark mode 🌙 for night owls 🦉"
RTL = "وضع ليلي للتطبيق"


def feed(client, path, **kwargs):
    """The feed at path, checked as Atom; raises AtomError listing what is wrong."""
    response = client.get(path, **kwargs)
    assert response.status_code == 200, path
    assert response.mimetype == "application/atom+xml"
    return assert_valid(response.data)


def titles(root) -> list[str]:
    return [
        entry.findtext("atom:title", namespaces=NS) for entry in root.iterfind("atom:entry", NS)
    ]


def change(client, number, status, response=""):
    reply = client.post(f"/ideas/{number}/status", data={"status": status, "response": response})
    assert reply.status_code == 303, reply.text


def comment(client, number, body, kind=""):
    reply = client.post(f"/ideas/{number}/comments", data={"body": body, "kind": kind})
    assert reply.status_code == 303, reply.text


def set_idea(app, number, **fields):
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        for name, value in fields.items():
            setattr(idea, name, value)
        db.session.commit()


@pytest.fixture
def board(make):
    return make.board("features")


def test_a_boards_feed_lists_its_newest_public_ideas(client, make, app, board):
    author = make.user(name="Ada <Lovelace> & Co")
    first = make.idea(board, author, HOSTILE, "Body with <b>raw</b> & **bold** ]]> text.")
    make.idea(board, author, EMOJI, "🌙" * 50)
    make.idea(board, author, RTL, "نص")
    make.idea(board, author, "Hidden from everyone", is_hidden=True)
    make.idea(board, author, "Waiting for review", is_held=True)
    make.idea(board, author, "Deleted by a moderator", is_deleted=True)
    make.idea(board, author, "Merged away duplicate", status="duplicate")
    make.idea(make.board("other"), author, "On another board")
    set_idea(app, first, created_at=utcnow() - timedelta(days=1))

    root = feed(client, "/b/features/feed.atom")

    assert titles(root) == [RTL, EMOJI, HOSTILE]  # newest first, text exactly as written
    entry = root.find("atom:entry[last()]", NS)
    assert entry.findtext("atom:id", namespaces=NS) == f"http://localhost/ideas/{first}"
    assert entry.findtext("atom:author/atom:name", namespaces=NS) == "Ada <Lovelace> & Co"
    content = entry.find("atom:content", NS)
    assert content.get("type") == "html" and "<strong>bold</strong>" in content.text
    assert "<b>" not in content.text  # raw HTML in Markdown was escaped once, on write
    assert root.find("atom:link[@rel='self']", NS).get("href").endswith("/b/features/feed.atom")


def test_an_empty_board_has_a_valid_feed(client, board):
    root = feed(client, "/b/features/feed.atom")
    assert titles(root) == []
    assert root.findtext("atom:title", namespaces=NS).endswith("Features")


def test_a_title_with_characters_xml_forbids_still_gives_a_valid_feed(client, make, board):
    make.idea(board, make.user(), "Odd \ufffe\uffff characters")
    assert titles(feed(client, "/b/features/feed.atom")) == ["Odd  characters"]


def test_an_ideas_feed_holds_its_status_changes_and_answers(client, make, auth, board):
    number = make.idea(board, make.user(), HOSTILE)
    auth.login(make.user(Role.OWNER, name="Olga 🦉"))
    change(client, number, "under_review")
    change(client, number, "planned", f"We start in **March**. {HOSTILE} {EMOJI}")
    comment(client, number, "Here is the *plan*.", kind="official")
    comment(client, number, "Internal: the Zanzibar budget is cut.", kind="internal")
    comment(client, number, "A plain comment from the team.")
    auth.logout()

    root = feed(client, f"/ideas/{number}/feed.atom")

    assert root.findtext("atom:title", namespaces=NS) == f"#{number} {HOSTILE}"
    assert titles(root) == ["Answer from Olga 🦉", "Now Planned", "Now Under review"]
    contents = [
        e.findtext("atom:content", namespaces=NS) for e in root.iterfind(".//atom:entry", NS)
    ]
    assert "<em>plan</em>" in contents[0]
    assert "<strong>March</strong>" in contents[1] and "&lt;script&gt;" in contents[1]
    assert contents[2] == "Open → Under review"
    text = client.get(f"/ideas/{number}/feed.atom").text
    assert "Zanzibar" not in text and "plain comment" not in text


def test_a_hidden_answer_leaves_the_ideas_feed(client, make, auth, app, board):
    number = make.idea(board, make.user())
    auth.login(make.user(Role.OWNER))
    comment(client, number, "An answer we took back.", kind="official")
    auth.logout()
    assert len(titles(feed(client, f"/ideas/{number}/feed.atom"))) == 1
    with app.app_context():
        db.session.execute(db.update(Comment).values(is_hidden=True))
        db.session.commit()
    assert titles(feed(client, f"/ideas/{number}/feed.atom")) == []


def test_the_changelog_feed_tells_what_shipped(client, make, auth, board):
    shipped = make.idea(board, make.user(), HOSTILE)
    plain = make.idea(board, make.user(), EMOJI)
    hidden = make.idea(board, make.user(), "Hidden and shipped", is_hidden=True)
    secret = make.idea(make.board("lab", is_private=True), make.user(), "Secret experiment")
    auth.login(make.user(Role.OWNER))
    change(client, shipped, "completed", f"Shipped in **4.2**. {HOSTILE}")
    change(client, plain, "completed")
    for number in (hidden, secret):
        change(client, number, "completed", "Done.")

    for path in ("/changelog.atom", "/changelog.atom?board=features"):
        root = feed(client, path)  # signed in as staff: private boards stay out all the same
        assert titles(root) == [EMOJI, HOSTILE], path
    assert titles(feed(client, "/changelog.atom?board=lab")) == [EMOJI, HOSTILE]
    auth.logout()
    root = feed(client, "/changelog.atom")
    assert "<strong>4.2</strong>" in root.findtext("atom:entry[2]/atom:content", namespaces=NS)
    assert root.findtext("atom:entry[1]/atom:content", namespaces=NS) == "Completed."


def test_an_empty_changelog_is_a_valid_feed(client, board):
    assert titles(feed(client, "/changelog.atom")) == []


@pytest.mark.parametrize("role", [None, Role.MODERATOR, Role.ADMIN])
def test_private_boards_have_no_feeds_whoever_asks(client, make, auth, role):
    lab = make.board("lab", is_private=True)
    number = make.idea(lab, make.user(), "Secret experiment")
    if role:
        auth.login(make.user(role))
        assert client.get("/b/lab").status_code == 200  # staff see the board itself
    assert client.get("/b/lab/feed.atom").status_code == 404
    assert client.get(f"/ideas/{number}/feed.atom").status_code == 404
    assert client.get("/b/nowhere/feed.atom").status_code == 404


@pytest.mark.parametrize("state", ["is_hidden", "is_held", "is_deleted"])
def test_ideas_customers_cannot_see_have_no_feed(client, make, auth, board, state):
    author = make.user()
    number = make.idea(board, author, **{state: True})
    assert client.get(f"/ideas/{number}/feed.atom").status_code == 404
    auth.login(author if state == "is_held" else make.user(Role.MODERATOR))
    assert client.get(f"/ideas/{number}/feed.atom").status_code == 404


def test_feed_ids_stay_the_same_whatever_host_is_asked(client, make, board):
    number = make.idea(board, make.user())
    root = feed(client, "/b/features/feed.atom", base_url="http://attacker.example")
    ids = [element.text for element in root.iter(f"{{{ATOM}}}id")]
    assert ids == ["http://localhost/b/features/feed.atom", f"http://localhost/ideas/{number}"]


def test_pages_announce_their_feeds(client, make, board):
    number = make.idea(board, make.user())
    pages = {
        "/b/features": "/b/features/feed.atom",
        f"/ideas/{number}": f"/ideas/{number}/feed.atom",
        "/changelog": "/changelog.atom",
        "/roadmap": "/changelog.atom",
    }
    for page, address in pages.items():
        text = client.get(page).text
        head = text.split("</head>")[0]
        assert re.search(
            rf'<link rel="alternate" type="application/atom\+xml" title="[^"]+" href="{address}">',
            head,
        ), page
        assert f'href="{address}"' in text.split("</head>")[1], page  # and a visible link


# -- the validator itself: each broken feed is refused for the right reason -------------

VALID = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Ideas</title>
  <id>http://localhost/b/features/feed.atom</id>
  <link rel="alternate" type="text/html" href="http://localhost/b/features"/>
  <link rel="self" href="http://localhost/b/features/feed.atom"/>
  <updated>2025-03-01T12:00:00.123456+00:00</updated>
  <author><name>Stimme</name></author>
  <entry>
    <title>Dark mode</title>
    <id>http://localhost/ideas/1</id>
    <link rel="alternate" type="text/html" href="http://localhost/ideas/1"/>
    <updated>2025-03-01T12:00:00Z</updated>
    <content type="html">&lt;p&gt;Please &lt;em&gt;now&lt;/em&gt;&lt;br&gt;&lt;/p&gt;</content>
  </entry>
</feed>"""


def test_the_validator_accepts_a_valid_feed():
    assert validate(VALID.encode()) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("<title>Ideas</title>", "", "Element feed"),
        ("<id>http://localhost/ideas/1</id>", "", "Element entry"),
        ("<title>Dark mode</title>", "<title><b>Dark</b></title>", "Element"),
        ("<updated>2025-03-01T12:00:00Z", "<updated>yesterday", "Element"),
        ("2025-03-01T12:00:00Z", "2025-03-01T12:00:00", "not an RFC 3339 date-time"),
        ("2025-03-01T12:00:00Z", "2025-02-30T12:00:00Z", "Element"),
        ("<id>http://localhost/ideas/1</id>", "<id>/ideas/1</id>", "not an absolute IRI"),
        ("<id>http://localhost/ideas/1</id>", "<id>http://local host/1</id>", "absolute IRI"),
        ("http://localhost/ideas/1</id>", "http://localhost/b/features/feed.atom</id>", "used 2"),
        ("<author><name>Stimme</name></author>", "", "has no atom:author"),
        ('<link rel="self"', '<link rel="alternate" type="text/html"', "2 alternate links"),
        ("&lt;br&gt;&lt;/p&gt;", "&lt;/div&gt;", "holds broken HTML"),
        ("&lt;p&gt;Please &lt;em&gt;now&lt;/em&gt;&lt;br&gt;&lt;/p&gt;", "<p>Hi</p>", "Element"),
        (
            '<link rel="alternate" type="text/html" href="http://localhost/ideas/1"/>\n'
            "    <updated>2025-03-01T12:00:00Z</updated>\n"
            '    <content type="html">&lt;p&gt;Please &lt;em&gt;now&lt;/em&gt;&lt;br&gt;&lt;/p&gt;'
            "</content>",
            "<updated>2025-03-01T12:00:00Z</updated>",
            "neither atom:content",
        ),
        ("<entry>", "<entry>\u0001", "not well-formed XML"),
    ],
)
def test_the_validator_refuses_broken_feeds(old, new, problem):
    assert old in VALID
    problems = validate(VALID.replace(old, new, 1).encode())
    assert any(problem in found for found in problems), problems
