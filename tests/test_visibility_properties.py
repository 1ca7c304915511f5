"""Nothing a person may not see reaches them, through any surface, whatever happens in
between (issue 18, "Tests").

Hypothesis builds small worlds (three boards, one private and one holding new posts; four
people whose roles change; ideas, votes, follows, comments, official answers and internal
notes) and runs random steps through the real routes: roles changed on the admin page,
boards made private and public again, ideas and comments hidden, deleted, restored and
approved in the review queue, merges and their undos, status changes with responses,
answers and notes, and the outbox worker (fan-out, mails, digests).

Every text written carries a marker word of its own ("zqt3x": the title of the third
idea), so a leak is found by looking for markers in what a person is shown. Who may read
what is judged here, from the rows, by the rule of SPEC sections 1, 2 and 10 (never by
the code under test): an idea is visible to someone iff its board is public or they are
staff (moderator and up), and it is public (not hidden, deleted or held) or they are staff
or it is held and they wrote it; internal notes and hidden or deleted comments are for
staff only; a status response goes with its idea. Nobody is kept from their own words.

- Notices and mails are judged when they are made: after every step, each new notice
  (the worker's, or one written in the request) and each mail the worker sent must hold
  only what its reader may see at that moment. Weekly digests are made due before every
  run of the worker.
- Pages, htmx fragments, feeds, the JSON API, exports, search and similar ideas are judged
  as they are now, when a step looks (one person) and at the end of every example
  (everyone): the bell's unread count must not count more notices than the notifications
  page lists.

A failure prints the world, its steps as they were run and a `@reproduce_failure` blob; it
is not shrunk (each example takes seconds: `VISIBILITY_SHRINK=1` shrinks, for minutes). In
CI (`CI` set) the examples are derandomized; elsewhere `VISIBILITY_SEED=N` repeats a run.
`VISIBILITY_SURVEY=1` lists every kind of leak over all examples instead of stopping at the
first (`-s` shows the list); `VISIBILITY_EXAMPLES=N` runs more or fewer worlds.
"""

import os
import re
import secrets
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from hypothesis import strategies as st

from conftest import PASSWORD_HASH
from portal.extensions import db, limiter
from portal.models import (
    Board,
    Comment,
    Idea,
    Merge,
    Notification,
    Role,
    StatusChange,
    User,
    utcnow,
)
from portal.operations import OperationError
from portal.operations.comments import add_comment
from portal.operations.ideas import submit_idea
from portal.operations.sessions import open_session
from portal.operations.subscriptions import set_subscription
from portal.operations.tokens import create_token
from portal.operations.votes import cast_vote
from portal.search import get_backend
from portal.search.indexing import apply_pending
from portal.worker import drain

pytestmark = pytest.mark.long  # make test-long: Hypothesis runs whole worlds through the routes

# slug: (private, holds new posts, vote budget)
BOARDS = {"open": (False, False, 3), "review": (False, True, 0), "staff": (True, False, 0)}
SLUGS = list(BOARDS)
# The ideas every world starts with: (board, author: a subject's index or "owner", state).
# Subject 3 has no approved idea yet: their posts on the board that holds them wait.
IDEAS = [
    ("open", 0, "public"),
    ("open", 1, "public"),
    ("review", 3, "held"),
    ("staff", 2, "public"),
    ("staff", "owner", "public"),
    ("open", 0, "hidden"),
]
SUBJECTS = 4  # the people whose roles change, and who look; the visitor looks too
ROLES = {"customer": Role.CUSTOMER, "moderator": Role.MODERATOR, "owner": Role.OWNER,
         "admin": Role.ADMIN}  # fmt: skip
STATUSES = ["open", "under_review", "planned", "started", "completed", "declined"]
IDEA_ACTIONS = ["hide", "delete", "restore", "approve", "dismiss"]
COMMENT_ACTIONS = ["hide", "delete", "restore"]
MARKER = re.compile(r"zq[a-z]\d+x")
UNREAD = re.compile(r'<span class="count">(\d+)')

POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
EXAMPLES = int(os.environ.get("VISIBILITY_EXAMPLES", 10 if POSTGRES else 35))
STEPS = 20
SURVEY = bool(os.environ.get("VISIBILITY_SURVEY"))
SEED = os.environ.get("VISIBILITY_SEED")
SHRINK = bool(os.environ.get("VISIBILITY_SHRINK")) and not SURVEY


# -- who may read what: the SPEC's rule, on the rows ---------------------------------------


@dataclass(frozen=True)
class Holder:
    """Where a marker was written: an idea's title or body, a comment, a status response."""

    what: str
    idea_id: int
    author_id: int
    public: bool = True  # a comment: not internal, hidden or deleted


@dataclass
class Snapshot:
    roles: dict[int, int]
    private: dict[int, bool]
    ideas: dict[int, object]
    holders: dict[str, Holder]

    def is_staff(self, person: int | None) -> bool:
        return person is not None and self.roles[person] >= Role.MODERATOR

    def may_see_idea(self, person: int | None, idea_id: int) -> bool:
        idea = self.ideas[idea_id]
        if self.private[idea.board_id] and not self.is_staff(person):
            return False
        if not (idea.is_hidden or idea.is_deleted or idea.is_held):
            return True
        return self.is_staff(person) or (idea.is_held and person == idea.author_id)

    def may_read(self, person: int | None, holder: Holder) -> bool:
        if person is not None and person == holder.author_id:
            return True  # their own words
        if not self.may_see_idea(person, holder.idea_id):
            return False
        return holder.public or self.is_staff(person)

    def why_not(self, holder: Holder) -> str:
        idea = self.ideas[holder.idea_id]
        reasons = [name for name, on in (("private board", self.private[idea.board_id]),
                   ("hidden", idea.is_hidden), ("deleted", idea.is_deleted),
                   ("held", idea.is_held)) if on]  # fmt: skip
        return ", ".join(reasons) or "staff only"

    def leaks(self, person: int | None, text: str) -> list[str]:
        """The markers in text that person may not read, each with where it was written and
        why they may not read it."""
        found = {marker: self.holders.get(marker) for marker in MARKER.findall(text)}
        return [
            f"“{marker}”, the {holder.what} of idea #{self.ideas[holder.idea_id].number} "
            f"({self.why_not(holder)})"
            for marker, holder in sorted(found.items())
            if holder is not None and not self.may_read(person, holder)
        ]

    def listed(self) -> set[str]:
        """The titles every board page lists: public ideas on public boards, not merged."""
        return {
            marker
            for marker, holder in self.holders.items()
            if holder.what == "title"
            and not self.private[self.ideas[holder.idea_id].board_id]
            and self.ideas[holder.idea_id].status != "duplicate"
            and self.may_see_idea(None, holder.idea_id)
        }


def snapshot() -> Snapshot:
    ideas = {
        idea.id: idea
        for idea in db.session.execute(
            db.select(
                Idea.id,
                Idea.number,
                Idea.board_id,
                Idea.author_id,
                Idea.title,
                Idea.body,
                Idea.status,
                Idea.is_hidden,
                Idea.is_deleted,
                Idea.is_held,
            )  # fmt: skip
        )
    }
    holders = {}

    def hold(text, holder):
        for marker in MARKER.findall(text or ""):
            holders[marker] = holder

    for idea in ideas.values():
        hold(idea.title, Holder("title", idea.id, idea.author_id))
        hold(idea.body, Holder("body", idea.id, idea.author_id))
    for comment in db.session.scalars(db.select(Comment)):
        kind = "internal note" if comment.is_internal else "comment"
        public = not (comment.is_internal or comment.is_hidden or comment.is_deleted)
        hold(comment.body, Holder(kind, comment.idea_id, comment.author_id, public))
    for change in db.session.scalars(db.select(StatusChange)):
        hold(change.response, Holder("status response", change.idea_id, change.author_id))
    snap = Snapshot(
        roles=dict(db.session.execute(db.select(User.id, User.role_value)).all()),
        private=dict(db.session.execute(db.select(Board.id, Board.is_private)).all()),
        ideas=ideas,
        holders=holders,
    )
    db.session.commit()
    return snap


# -- the world and its people --------------------------------------------------------------


subject = st.integers(0, SUBJECTS - 1)
mail = st.tuples(st.sampled_from(["all", "status"]), st.sampled_from(["instant", "weekly"]))
first_ideas = st.tuples(subject, st.integers(0, len(IDEAS) - 1))
# Each subject's role and mail settings, and which first ideas each follows and voted for.
worlds = st.fixed_dictionaries(
    {
        "roles": st.lists(st.sampled_from(list(ROLES)), min_size=SUBJECTS, max_size=SUBJECTS),
        "mail": st.lists(mail, min_size=SUBJECTS, max_size=SUBJECTS),
        "follows": st.sets(first_ideas, max_size=10),
        "votes": st.sets(first_ideas, max_size=6),
    }
)
pick = st.integers(0, 30)  # an idea, comment or merge, by position (modulo how many there are)
# What issue 18 found: roles and boards change under people, then the worker delivers.
worker = st.just(("worker",))
role = st.tuples(st.just("role"), subject, st.sampled_from(list(ROLES)))
privacy = st.tuples(st.just("privacy"), st.sampled_from(SLUGS), st.booleans())
steps = st.one_of(
    st.tuples(st.just("vote"), subject, pick),
    st.tuples(st.just("follow"), subject, pick, st.sampled_from(["all", "status"])),
    st.tuples(st.just("comment"), subject, pick),
    st.tuples(st.just("post"), subject, st.sampled_from(SLUGS)),
    st.tuples(st.just("answer"), pick, st.sampled_from(["official", "internal", ""])),
    st.tuples(st.just("status"), pick, st.sampled_from(STATUSES)),
    st.tuples(st.just("moderate idea"), pick, st.sampled_from(IDEA_ACTIONS)),
    st.tuples(st.just("moderate comment"), pick, st.sampled_from(COMMENT_ACTIONS)),
    st.tuples(st.just("merge"), pick, pick),
    st.tuples(st.just("undo"), pick),
    st.tuples(st.just("look"), st.integers(0, SUBJECTS)),  # SUBJECTS: the visitor
    *[role, privacy, worker] * 2,
)


def person(email: str, name: str, role: Role, **fields) -> User:
    old = utcnow() - timedelta(days=30)  # past the brakes on new accounts
    user = User(email=email, name=name, password_hash=PASSWORD_HASH, email_verified_at=old,
                created_at=old, **fields)  # fmt: skip
    user.role = role
    db.session.add(user)
    return user


class World:
    """One example's rows, its people's signed-in clients and API tokens, and what has been
    checked so far."""

    def __init__(self, app, maildir: Path, draw: dict):
        self.app, self.maildir = app, maildir
        self.markers = 0
        self.survey: Tally = Tally()
        with app.app_context():
            self._build(draw)
        limiter.reset()
        app.extensions["pagecache"].clear()  # pages of the last world, under reused versions
        self.clients = {key: self._client(user_id) for key, user_id in self.ids.items()}
        self.visitor = app.test_client()
        self.seen_notice, self.seen_mail = self._last_notice(), set(os.listdir(maildir))

    def marker(self, kind: str) -> str:
        self.markers += 1
        return f"zq{kind}{self.markers}x"

    def _build(self, draw: dict) -> None:
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.expunge_all()
        db.session.commit()
        get_backend().rebuild([])
        old = utcnow() - timedelta(days=8)  # a week ago: the first digest is due
        staff = {
            "admin": person("admin@example.com", "Admin", Role.ADMIN),
            "owner": person("owner@example.com", "Owner", Role.OWNER),
            "moderator": person("moderator@example.com", "Moderator", Role.MODERATOR),
        }
        subjects = [
            person(f"s{n}@example.com", f"Subject {n}", ROLES[role], email_preference=level,
                   email_frequency=frequency, digest_sent_at=old)
            for n, (role, (level, frequency))
            in enumerate(zip(draw["roles"], draw["mail"], strict=True))
        ]  # fmt: skip
        boards = {
            slug: Board(slug=slug, name=slug.title(), is_private=private, hold_new_posts=hold,
                        votes_per_user=budget)
            for slug, (private, hold, budget) in BOARDS.items()
        }  # fmt: skip
        db.session.add_all(boards.values())
        db.session.flush()
        ideas = []
        for slug, author, state in IDEAS:
            writer = staff["owner"] if author == "owner" else subjects[author]
            idea = submit_idea(writer, boards[slug], self._title(), self._body())
            idea.is_held, idea.is_hidden = state == "held", state == "hidden"
            ideas.append(idea)
        db.session.flush()
        for n, idea in enumerate(ideas[:2]):  # a thread to hide things in
            add_comment(subjects[(n + 2) % SUBJECTS], idea, f"Comment {self.marker('c')}.")
            add_comment(staff["owner"], idea, f"Note {self.marker('n')}.", internal=True)
        add_comment(staff["owner"], ideas[0], f"Answer {self.marker('a')}.", official=True)
        add_comment(staff["owner"], ideas[3], f"Note {self.marker('n')}.", internal=True)
        for who, which in sorted(draw["follows"]):
            set_subscription(subjects[who], ideas[which], "all")
        for who, which in sorted(draw["votes"]):
            try:
                with db.session.begin_nested():
                    cast_vote(subjects[who], ideas[which], 1)
            except OperationError:
                pass  # a held or hidden idea takes no votes
        db.session.commit()
        apply_pending()
        self.ids = {name: user.id for name, user in staff.items()}
        self.ids.update({n: user.id for n, user in enumerate(subjects)})
        self.emails = {user.email: user.id for user in [*staff.values(), *subjects]}
        self.tokens = {n: create_token(user, "look")[1] for n, user in enumerate(subjects)}
        db.session.commit()

    def _title(self) -> str:
        return f"Gadget {self.marker('t')} idea"

    def _body(self) -> str:
        return f"Gadget details {self.marker('b')}."

    def _client(self, user_id: int):
        """A client signed in as user: a session opened as the sign-in form opens one (the
        form's password check would cost most of the run)."""
        client = self.app.test_client()
        with self.app.app_context():
            token = open_session(db.session.get(User, user_id), False, "property test", "")
            db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = token, True
        return client

    def _last_notice(self) -> int:
        with self.app.app_context():
            return db.session.scalar(db.select(db.func.max(Notification.id))) or 0

    # -- the steps ----------------------------------------------------------------------

    def rows(self, model, index: int):
        """The row at index (modulo how many there are), or None when there are none."""
        with self.app.app_context():
            ids = db.session.scalars(db.select(model.id).order_by(model.id)).all()
            if not ids:
                return None
            row = db.session.get(model, ids[index % len(ids)])
            db.session.expunge(row)
            return row

    def send(self, who, method: str, url: str, **data):
        client = self.clients[who]
        response = client.open(url, method=method, data=data)
        assert response.status_code < 500, f"{method} {url} {data}: {response.status_code}"
        return response

    def step(self, step: tuple) -> None:
        kind, *args = step
        getattr(self, kind.replace(" ", "_"))(*args)

    def number(self, index: int) -> int:
        return self.rows(Idea, index).number

    # Customers and the staff they may have become: through the pages, as people do.

    def vote(self, who: int, index: int) -> None:
        self.send(who, "POST", f"/ideas/{self.number(index)}/vote")

    def follow(self, who: int, index: int, level: str) -> None:
        self.send(who, "POST", f"/ideas/{self.number(index)}/subscription", level=level)

    def comment(self, who: int, index: int) -> None:
        self.send(who, "POST", f"/ideas/{self.number(index)}/comments", body=self.marker("c"))

    def post(self, who: int, slug: str) -> None:
        form = {"title": self._title(), "body": self._body(), "confirmed": "1",
                "submission_key": secrets.token_hex(8)}  # fmt: skip
        self.send(who, "POST", f"/b/{slug}/new", **form)

    # The product team, the moderator and the admin.

    def answer(self, index: int, kind: str) -> None:
        text = f"{kind or 'team'} {self.marker('a' if kind == 'official' else 'n')}"
        self.send("owner", "POST", f"/ideas/{self.number(index)}/comments", body=text, kind=kind)

    def status(self, index: int, status: str) -> None:
        response = f"Because {self.marker('r')}."
        self.send("owner", "POST", f"/ideas/{self.number(index)}/status", status=status,
                  response=response)  # fmt: skip

    def role(self, who: int, role: str) -> None:
        self.send("admin", "POST", f"/admin/users/{self.ids[who]}/role", role=str(int(ROLES[role])))

    def moderate_idea(self, index: int, action: str) -> None:
        idea_id = self.rows(Idea, index).id
        self.send("moderator", "POST", f"/moderation/idea/{idea_id}", action=action,
                  reason="Off topic.")  # fmt: skip

    def moderate_comment(self, index: int, action: str) -> None:
        if (comment := self.rows(Comment, index)) is not None:
            self.send("moderator", "POST", f"/moderation/comment/{comment.id}", action=action,
                      reason="Off topic.")  # fmt: skip

    def merge(self, index: int, into: int) -> None:
        self.send("moderator", "POST", f"/ideas/{self.number(index)}/merge",
                  into=str(self.number(into)))  # fmt: skip

    def undo(self, index: int) -> None:
        if (merge := self.rows(Merge, index)) is not None:
            self.send("moderator", "POST", f"/merges/{merge.id}/undo")

    def privacy(self, slug: str, private: bool) -> None:
        with self.app.app_context():
            board = db.session.scalar(db.select(Board).filter_by(slug=slug))
            form = {field: getattr(board, field) for field in
                    ("name", "description", "votes_per_user", "max_votes_per_idea")}  # fmt: skip
            flags = {"hold_new_posts": board.hold_new_posts, "voters_public": board.voters_public}
            db.session.commit()
        form.update({name: "1" for name, on in flags.items() if on})
        if private:
            form["is_private"] = "1"
        self.send("admin", "POST", f"/admin/boards/{slug}", **form)

    def worker(self) -> None:
        """The outbox worker's round, with every weekly digest due (a week has passed)."""
        with self.app.app_context():
            db.session.execute(
                db.update(User)
                .where(User.email_frequency == "weekly")
                .values(digest_sent_at=utcnow() - timedelta(days=8))
            )
            db.session.commit()
            drain()

    # -- the checks ---------------------------------------------------------------------

    def fail(self, leaks: list[str]) -> None:
        if not leaks:
            return
        if SURVEY:
            self.survey.update(re.sub(r"zq\w+|#\d+|/\d+", "N", leak) for leak in leaks)
            return
        raise AssertionError("Shown to someone who may not see it:\n" + "\n".join(leaks))

    def who(self, person: int | None) -> str:
        if person is None:
            return "a visitor"
        with self.app.app_context():
            user = db.session.get(User, person)
            return f"{user.name} ({user.role.slug})"

    def check_deliveries(self) -> None:
        """Every notice and mail made since the last check, judged as things are now."""
        with self.app.app_context():
            snap = snapshot()
            notices = db.session.execute(
                db.select(
                    Notification.id, Notification.user_id, Notification.kind, Notification.text
                ).where(Notification.id > self.seen_notice)  # fmt: skip
            ).all()
            db.session.commit()
        leaks = []
        for notice in notices:
            self.seen_notice = max(self.seen_notice, notice.id)
            for leak in snap.leaks(notice.user_id, notice.text):
                leaks.append(f"notice ({notice.kind}) to {self.who(notice.user_id)}: {leak}")
        for name in sorted(set(os.listdir(self.maildir)) - self.seen_mail):
            self.seen_mail.add(name)
            mail = message_from_bytes((self.maildir / name).read_bytes(), policy=policy.default)
            reader = self.emails[mail["To"].addresses[0].addr_spec]
            text = str(mail["Subject"]) + "".join(
                part.get_content() for part in mail.walk() if part.get_content_maintype() == "text"
            )
            for leak in snap.leaks(reader, text):
                leaks.append(f"mail “{mail['Subject']}” to {self.who(reader)}: {leak}")
        self.fail(leaks)

    def urls(self, signed_in: bool) -> list[tuple[str, bool]]:
        """Every page, fragment and API answer there is now: (url, as an htmx request)."""
        with self.app.app_context():
            numbers = db.session.scalars(db.select(Idea.number).order_by(Idea.number)).all()
            db.session.commit()
        pages = ["/", "/roadmap", "/changelog", "/search?q=gadget", "/api/v1/ideas",
                 "/api/v1/search?q=gadget", "/api/v1/similar?title=gadget"]  # fmt: skip
        fragments = ["/similar?title=gadget", "/search?q=gadget"]
        for slug in SLUGS:
            pages += [f"/b/{slug}", f"/b/{slug}?sort=new"]
            fragments.append(f"/b/{slug}")
        for n in numbers:
            pages += [f"/ideas/{n}", f"/api/v1/ideas/{n}", f"/api/v1/ideas/{n}/comments"]
            fragments.append(f"/ideas/{n}")
        if signed_in:
            pages += ["/me", "/notifications", "/account/export.json", "/moderation",
                      "/dashboard", "/admin/export/ideas.csv"]  # fmt: skip
        else:
            pages += ["/changelog.atom", *(f"/b/{slug}/feed.atom" for slug in SLUGS)]
            pages += [f"/ideas/{n}/feed.atom" for n in numbers]
        return [(url, False) for url in pages] + [(url, True) for url in fragments]

    def look(self, observer: int) -> None:
        """Everything one person (SUBJECTS: the visitor) is shown now."""
        person = self.ids[observer] if observer < SUBJECTS else None
        client = self.clients[observer] if person is not None else self.visitor
        with self.app.app_context():
            snap = snapshot()
        leaks, shown = [], set()
        for url, htmx in self.urls(person is not None):
            headers = {"HX-Request": "true"} if htmx else {}
            if url.startswith("/api/") and person is not None:
                headers["Authorization"] = f"Bearer {self.tokens[observer]}"
            response = client.get(url, headers=headers)
            assert response.status_code < 500, f"GET {url} as {self.who(person)}"
            where = f"{url}{' (htmx)' if htmx else ''} to {self.who(person)}"
            leaks += [f"{where}: {leak}" for leak in snap.leaks(person, response.text)]
            shown.update(MARKER.findall(response.text))
            if url == "/notifications":
                leaks += self.unread_count(response.text, where)
        self.fail(leaks)
        # What everyone may see is found by the same search: the markers work.
        assert snap.listed() <= shown, f"{self.who(person)} was not shown {snap.listed() - shown}"

    def unread_count(self, page: str, where: str) -> list[str]:
        """The bell counts no more notices than the page lists: it tells of nothing hidden."""
        bell = UNREAD.search(page)
        listed = page.count('class="notice-item unread"')
        if bell and int(bell.group(1)) > listed:
            return [f"{where}: the bell counts {bell.group(1)} unread, the page lists {listed}"]
        return []


def test_nothing_reaches_a_person_who_may_not_see_it(app, tmp_path_factory, roomy_limits):
    maildir = tmp_path_factory.mktemp("mail")
    previous = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = f"file://{maildir}"
    survey: Tally = Tally()
    runs = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # no example folder in the checkout; failures print their steps
        derandomize=bool(os.environ.get("CI")),
        print_blob=True,
        # Shrinking costs minutes at seconds an example: a failure shows its steps as found.
        phases=[Phase.generate] + ([Phase.shrink] if SHRINK else []),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(draw=worlds, plan=st.lists(steps, min_size=STEPS // 2, max_size=STEPS))
    def run(draw, plan):
        note(f"world {draw}")
        world = World(app, maildir, draw)
        world.check_deliveries()
        for step in plan:
            note(f"step {step}")
            world.step(step)
            world.check_deliveries()
        note("then the worker's round, and everyone looks")
        world.worker()
        world.check_deliveries()
        for observer in range(SUBJECTS + 1):
            world.look(observer)
        survey.update(world.survey)
        runs.append(len(plan))

    if SEED:
        run = seed(int(SEED))(run)
    try:
        run()
    finally:
        app.config["MAIL_URL"] = previous
        app.extensions["pagecache"].clear()  # the last world's pages, for the next test
    print(f"{len(runs)} worlds, {sum(runs)} steps")
    if SURVEY:
        print("\n".join(f"{count:5d}  {leak}" for leak, count in survey.most_common()))
    assert len(runs) >= EXAMPLES
