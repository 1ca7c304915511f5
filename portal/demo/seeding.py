"""seed_demo: plans a year of activity from the pools in boards.py, topics.py and replies.py
with a seeded random generator, then adds the rows. The caller commits; seed_demo only adds
and flushes."""

from __future__ import annotations

import bisect
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from werkzeug.security import generate_password_hash

from portal import statuses, workflow
from portal.demo.boards import BOARDS, CUSTOMER_COUNT, CUSTOMER_NAMES, LAST_INITIALS, SANDBOX, STAFF
from portal.demo.replies import (
    AFTER_COMPLETED,
    AFTER_DECLINED,
    AUTHOR_REPLIES,
    CUSTOMER_COMMENTS,
    DUPLICATE_RESPONSE,
    INTERNAL_NOTES,
    OFFICIAL_COMMENTS,
    RESPONSES,
    SANDBOX_RESPONSES,
    STAFF_COMMENTS,
)
from portal.demo.topics import CLOSINGS, DEPARTMENTS, LEAD_INS, OPENERS, SIZES, TOPICS, Topic
from portal.extensions import db
from portal.markup import render_markdown
from portal.models import (
    Board,
    Category,
    Comment,
    Counter,
    Idea,
    Role,
    StatusChange,
    Subscription,
    SubscriptionLevel,
    User,
    Vote,
    utcnow,
)


class DemoError(RuntimeError):
    """The database is not empty, so the demo content would mix with real content."""


NOT_EMPTY = "The database already has ideas; seed-demo fills only an empty database."

# Share of ideas in each status; the rest stay open. Completed ones mostly shipped lately.
STATUS_SHARES = {
    "under_review": 0.10,
    "planned": 0.08,
    "started": 0.06,
    "completed": 0.11,
    "declined": 0.05,
}
STATUS_PATHS = {
    "under_review": (("under_review",),),
    "planned": (("planned",), ("under_review", "planned")),
    "started": (("planned", "started"), ("under_review", "planned", "started")),
    "completed": (
        ("planned", "started", "completed"),
        ("started", "completed"),
        ("under_review", "planned", "started", "completed"),
        ("completed",),
    ),
    "declined": (("declined",), ("under_review", "declined")),
}
COMMENT_COUNT_WEIGHTS = (30, 22, 17, 12, 9, 6, 4)  # 0..6 comments, a long tail
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass
class Plan:
    """One idea while it is being made, with what the later steps need to know about it."""

    index: int
    board: str
    created_at: datetime
    topic: Topic
    author: User | None = None
    status: str = workflow.OPEN
    history: list[tuple[str, datetime]] = field(default_factory=list)
    canonical: Plan | None = None
    hot: bool = False
    idea: Idea | None = None
    vote_total: int = 0
    public_comments: int = 0
    last_activity: datetime | None = None

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def closes_at(self) -> datetime | None:
        """When voting closed, or None while the idea still takes votes."""
        if self.history and not statuses.accepts_votes(self.status):
            return self.history[-1][1]
        return None

    def touch(self, when: datetime) -> None:
        if self.last_activity is None or when > self.last_activity:
            self.last_activity = when


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def seed_demo(ideas: int = 300, password: str | None = None, seed: int = 7) -> dict:
    """Fill an empty database with demo content; raises DemoError if it has ideas.

    Adds and flushes but does not commit. Every account gets the same password: the one
    given, or a random one that is returned.
    """
    if ideas < 0:
        raise DemoError("The number of demo ideas must be 0 or more.")
    _check_empty()
    password = password or secrets.token_urlsafe(9)
    seeder = _Seeder(random.Random(seed), utcnow(), generate_password_hash(password))
    seeder.run(ideas)
    return {
        "password": password,
        "accounts": [user.email for user in seeder.staff.values()]
        + [user.email for user in seeder.customers],
        "boards": len(seeder.boards),
        "ideas": len(seeder.plans),
        "votes": len(seeder.votes),
        "comments": len(seeder.comments),
    }


def _demo_emails() -> list[str]:
    return [email for email, _, _ in STAFF] + [
        f"customer{n}@example.com" for n in range(1, CUSTOMER_COUNT + 1)
    ]


def _check_empty() -> None:
    if db.session.scalar(db.select(Idea.id).limit(1)) is not None:
        raise DemoError(NOT_EMPTY)
    taken = db.session.scalar(db.select(User.email).where(User.email.in_(_demo_emails())).limit(1))
    if taken is not None:
        raise DemoError(
            f"The account {taken} already exists; seed-demo fills only an empty database."
        )
    slugs = [spec.slug for spec in BOARDS]
    slug = db.session.scalar(db.select(Board.slug).where(Board.slug.in_(slugs)).limit(1))
    if slug is not None:
        raise DemoError(
            f"A board called {slug!r} already exists; seed-demo fills only an empty database."
        )


class _Seeder:
    def __init__(self, rng: random.Random, now: datetime, password_hash: str):
        self.rng = rng
        self.now = now
        self.password_hash = password_hash
        self.staff: dict[Role, User] = {}
        self.customers: list[User] = []  # ordered by created_at
        self.customer_times: list[datetime] = []
        self.boards: dict[str, Board] = {}
        self.categories: dict[tuple[str, str], Category] = {}
        self.plans: list[Plan] = []
        self.votes: list[Vote] = []
        self.comments: list[Comment] = []
        self.changes: list[StatusChange] = []
        self.subscriptions: dict[tuple[int, int], list] = {}
        self.budget_spent: dict[int, int] = defaultdict(int)
        self.subscription_rows: list[Subscription] = []
        self.titles: set[str] = set()

    # Small helpers ------------------------------------------------------------------------

    def between(self, start: datetime, end: datetime) -> datetime:
        return start + (end - start) * self.rng.random()

    def days_ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def fill(self, template: str, topic: Topic) -> str:
        return template.format(
            noun=topic.noun,
            Noun=_cap(topic.noun),
            dept=self.rng.choice(DEPARTMENTS),
            size=self.rng.choice(SIZES),
            ticket=self.rng.randint(1200, 4800),
        )

    def customers_before(self, when: datetime) -> list[User]:
        return self.customers[: bisect.bisect_left(self.customer_times, when)]

    # The steps ----------------------------------------------------------------------------

    def run(self, count: int) -> None:
        self.make_accounts()
        self.make_boards()
        self.plan_ideas(count)
        self.assign_statuses()
        for plan in self.plans:
            self.make_idea(plan)
        db.session.add_all([*self.staff.values(), *self.customers, *self.boards.values()])
        db.session.add_all([*self.categories.values(), *(p.idea for p in self.plans)])
        db.session.flush()
        for plan in self.plans:
            if plan.canonical is not None:
                # As a merge does: the duplicate's author now follows the canonical idea.
                plan.idea.merged_into_id = plan.canonical.idea.id
                merged_at = plan.history[-1][1]
                self.subscribe(plan.author, plan.canonical, SubscriptionLevel.STATUS, merged_at)
            self.record_history(plan)
            self.subscribe(plan.author, plan, SubscriptionLevel.ALL, plan.created_at)
        self.cast_votes()
        for plan in self.plans:
            self.write_comments(plan)
        self.finish()
        db.session.flush()

    def make_accounts(self) -> None:
        joined = self.days_ago(364)
        for email, name, role in STAFF:
            self.staff[role] = self.account(email, name, role, joined)
        names = self.rng.sample(CUSTOMER_NAMES, len(CUSTOMER_NAMES))
        # A handful of early adopters, then sign-ups over the year; none newer than 35 days.
        ages = [self.rng.uniform(350, 362) for _ in range(6)]
        ages += [self.rng.uniform(35, 348) for _ in range(CUSTOMER_COUNT - 6)]
        ages.sort(reverse=True)
        for n in range(1, CUSTOMER_COUNT + 1):
            name = f"{names[(n - 1) % len(names)]} {self.rng.choice(LAST_INITIALS)}."
            user = self.account(
                f"customer{n}@example.com", name, Role.CUSTOMER, self.days_ago(ages[n - 1])
            )
            self.customers.append(user)
        self.customer_times = [user.created_at for user in self.customers]

    def account(self, email: str, name: str, role: Role, created_at: datetime) -> User:
        user = User(
            email=email,
            name=name,
            password_hash=self.password_hash,
            email_verified_at=created_at + timedelta(minutes=self.rng.randint(2, 90)),
            created_at=created_at,
        )
        user.role = role
        return user

    def make_boards(self) -> None:
        created = self.days_ago(365)
        for position, spec in enumerate(BOARDS):
            board = Board(
                slug=spec.slug,
                name=spec.name,
                description=spec.description,
                is_private=spec.is_private,
                votes_per_user=spec.votes_per_user,
                max_votes_per_idea=spec.max_votes_per_idea,
                hold_new_posts=False,
                position=position,
                created_at=created,
            )
            self.boards[spec.slug] = board
            for slug, name in spec.categories:
                self.categories[spec.slug, slug] = Category(board=board, slug=slug, name=name)

    def board_sequence(self, count: int) -> list[str]:
        sequence = []
        for spec in BOARDS[1:]:
            sequence += [spec.slug] * round(count * spec.share)
        sequence = [BOARDS[0].slug] * max(count - len(sequence), 0) + sequence
        self.rng.shuffle(sequence)
        return sequence[:count]

    def plan_ideas(self, count: int) -> None:
        # Denser lately, as a live portal is; the oldest idea is about 345 days old.
        ages = sorted(
            (2 / 24 + 343 * self.rng.random() ** 1.35 for _ in range(count)), reverse=True
        )
        topics = defaultdict(list)
        for topic in TOPICS:
            topics[topic.board].append(topic)
        for index, board in enumerate(self.board_sequence(count)):
            created = self.days_ago(ages[index])
            plan = Plan(index, board, created, self.rng.choice(topics[board]))
            plan.author = self.pick_author(board, created)
            self.plans.append(plan)

    def pick_author(self, board: str, created: datetime) -> User:
        staff = list(self.staff.values())
        if board == SANDBOX or self.rng.random() < 0.04:
            return self.rng.choice(staff)
        return self.rng.choice(self.customers_before(created - HOUR) or self.customers[:1])

    # Statuses -----------------------------------------------------------------------------

    def assign_statuses(self) -> None:
        seasoned = [p for p in self.plans if self.now - p.created_at > 10 * DAY]
        self.rng.shuffle(seasoned)
        self.assign_duplicates(seasoned)
        pool = [p for p in seasoned if p.canonical is None]
        at_least = 1 if len(self.plans) >= 20 else 0
        for status, share in STATUS_SHARES.items():
            quota = max(at_least, round(share * len(self.plans)))
            for plan in pool[:quota]:
                plan.status = status
                plan.history = self.history_for(plan, self.rng.choice(STATUS_PATHS[status]))
            pool = pool[quota:]
        public = [p for p in self.plans if p.board != SANDBOX and p.status != workflow.DUPLICATE]
        for plan in self.rng.sample(public, min(len(public), max(1, len(self.plans) // 40))):
            plan.hot = True

    def assign_duplicates(self, seasoned: list[Plan]) -> None:
        wanted = 3 if len(self.plans) >= 100 else 2 if len(self.plans) >= 20 else 0
        canonicals: set[int] = set()
        for plan in seasoned:
            if wanted == 0:
                return
            earlier = [
                p
                for p in self.plans[: plan.index]
                if p.board == plan.board and p.canonical is None and p.index not in canonicals
            ]
            if plan.board == SANDBOX or plan.index in canonicals or not earlier:
                continue
            canonical = self.rng.choice(earlier)
            canonicals.add(canonical.index)
            plan.canonical, plan.topic, plan.status = canonical, canonical.topic, workflow.DUPLICATE
            merged = self.between(plan.created_at + 2 * HOUR, plan.created_at + 6 * DAY)
            plan.history = [(workflow.DUPLICATE, min(merged, self.now - HOUR))]
            wanted -= 1

    def history_for(self, plan: Plan, path: tuple[str, ...]) -> list[tuple[str, datetime]]:
        start, end = plan.created_at + 2 * DAY, self.now - 3 * HOUR
        recent = self.days_ago(88)
        if path[-1] != "completed":
            final = self.between(self.between(start, end), end)
        elif start >= recent or self.rng.random() < 0.55:
            final = self.between(max(start, recent), end)  # the roadmap's recently shipped
        else:
            final = self.between(start, recent)
        steps = sorted(self.between(plan.created_at + DAY, final) for _ in path[:-1])
        return list(zip(path, [*steps, final], strict=True))

    def record_history(self, plan: Plan) -> None:
        owner = self.staff[Role.OWNER]
        previous = workflow.OPEN
        for position, (status, when) in enumerate(plan.history):
            final = position == len(plan.history) - 1
            response = self.response(plan, status, final)
            self.changes.append(
                StatusChange(
                    idea_id=plan.idea.id,
                    author_id=owner.id,
                    from_status=previous,
                    to_status=status,
                    response=response,
                    response_html=render_markdown(response) if response else "",
                    created_at=when,
                )
            )
            previous = status
            plan.touch(when)

    def response(self, plan: Plan, status: str, final: bool) -> str:
        if status == workflow.DUPLICATE:
            return DUPLICATE_RESPONSE.format(number=plan.canonical.number)
        if self.rng.random() > (0.85 if final else 0.3):
            return ""
        pool = RESPONSES[status]
        if plan.board == SANDBOX:
            pool = SANDBOX_RESPONSES.get(status, ("Moving this along; details in the comments.",))
        return self.fill(self.rng.choice(pool), plan.topic)

    # Ideas --------------------------------------------------------------------------------

    def make_idea(self, plan: Plan) -> None:
        title, body = self.title(plan.topic), self.body(plan.topic)
        category = self.categories.get((plan.board, plan.topic.category))
        assignee = None
        if plan.status in ("planned", "started", "completed") and self.rng.random() < 0.6:
            assignee = self.staff[Role.OWNER]
        plan.idea = Idea(
            number=plan.number,
            board=self.boards[plan.board],
            category=category if self.rng.random() < 0.85 else None,
            author=plan.author,
            assignee=assignee,
            title=title,
            body=body,
            body_html=render_markdown(body),
            status=plan.status,
            vote_count=0,
            comment_count=0,
            created_at=plan.created_at,
            updated_at=plan.created_at,
            status_changed_at=plan.history[-1][1] if plan.history else None,
        )

    def title(self, topic: Topic) -> str:
        title = ""
        for _ in range(8):
            title = self.rng.choice(topic.titles) + self.rng.choice(topic.tails)
            if title not in self.titles:
                break
        self.titles.add(title)
        return title

    def body(self, topic: Topic) -> str:
        paragraphs = [self.rng.choice(topic.why)]
        if self.rng.random() < 0.45:
            paragraphs.insert(0, self.fill(self.rng.choice(OPENERS), topic))
        if topic.bullets and self.rng.random() < 0.4:
            chosen = self.rng.sample(topic.bullets, min(len(topic.bullets), self.rng.randint(2, 3)))
            paragraphs.append(
                self.rng.choice(LEAD_INS) + "\n\n" + "\n".join(f"- {b}" for b in chosen)
            )
        if self.rng.random() < 0.5:
            paragraphs.append(self.rng.choice(CLOSINGS))
        return "\n\n".join(paragraphs)

    # Votes --------------------------------------------------------------------------------

    def cast_votes(self) -> None:
        targets = {plan.index: self.voter_target(plan) for plan in self.plans}
        for plan in sorted(self.plans, key=lambda p: -targets[p.index]):
            if plan.status != workflow.DUPLICATE:
                self.vote_on(plan, targets[plan.index])

    def voter_target(self, plan: Plan) -> int:
        if plan.hot:
            return self.rng.randint(30, 50)
        return min(int(self.rng.paretovariate(1.4) * 2) - 2, 24)

    def vote_on(self, plan: Plan, target: int) -> None:
        closes = plan.closes_at or self.now - HOUR / 6
        board = self.boards[plan.board]
        if plan.board == SANDBOX:
            pool = list(self.staff.values())
        else:
            pool = self.customers_before(closes - HOUR)
        budgeted = board.votes_per_user > 0 and statuses.accepts_votes(plan.status)
        if budgeted:
            pool = [u for u in pool if self.budget_spent[u.id] < board.votes_per_user]
        for user in self.rng.sample(pool, min(target, len(pool))):
            weight = 1
            if board.max_votes_per_idea > 1:
                weight = self.rng.choices((1, 2, 3), (70, 20, 10))[0]
            if budgeted:
                weight = min(weight, board.votes_per_user - self.budget_spent[user.id])
                self.budget_spent[user.id] += weight
            when = self.between(max(plan.created_at, user.created_at) + HOUR, closes)
            self.votes.append(
                Vote(user_id=user.id, idea_id=plan.idea.id, weight=weight, created_at=when)
            )
            plan.vote_total += weight
            self.subscribe(user, plan, SubscriptionLevel.STATUS, when)

    # Comments -----------------------------------------------------------------------------

    def comment_count(self, plan: Plan) -> int:
        if plan.status == workflow.DUPLICATE:
            return 0
        count = self.rng.choices(range(len(COMMENT_COUNT_WEIGHTS)), COMMENT_COUNT_WEIGHTS)[0]
        return max(count, self.rng.randint(3, 6)) if plan.hot else count

    def write_comments(self, plan: Plan) -> None:
        count = self.comment_count(plan)
        end = self.now - HOUR / 6
        if plan.board == SANDBOX:
            end = plan.closes_at or end  # staff experiments go quiet once decided
        times = sorted(self.between(plan.created_at + HOUR / 2, end) for _ in range(count))
        for when in times:
            self.comments.append(self.comment(plan, when))
        if plan.board != SANDBOX and self.wants_internal_note(plan):
            when = self.between(plan.created_at + HOUR, self.now - HOUR / 6)
            body = self.fill(self.rng.choice(INTERNAL_NOTES), plan.topic)
            self.comments.append(self.new_comment(plan, self.staff[Role.OWNER], body, when))
            self.comments[-1].is_internal = True

    def wants_internal_note(self, plan: Plan) -> bool:
        chance = 0.3 if plan.status in ("under_review", "planned", "started") else 0.03
        return self.rng.random() < chance

    def comment(self, plan: Plan, when: datetime) -> Comment:
        topic = plan.topic
        if plan.board == SANDBOX:
            author = self.rng.choice(list(self.staff.values()))
            return self.public_comment(plan, author, self.rng.choice(STAFF_COMMENTS), when)
        answered = plan.history[0][1] if plan.history else self.now
        if when < answered and self.rng.random() < 0.12:
            # The team answers in comments until it answers with a status change.
            body = self.fill(self.rng.choice(OFFICIAL_COMMENTS), topic)
            comment = self.public_comment(plan, self.staff[Role.OWNER], body, when)
            comment.is_official = True
            return comment
        author = self.rng.choice(self.customers_before(when - HOUR) or self.customers[:1])
        pool = self.customer_pool(plan, author, when)
        return self.public_comment(plan, author, self.fill(self.rng.choice(pool), topic), when)

    def customer_pool(self, plan: Plan, author: User, when: datetime) -> tuple[str, ...]:
        closed = plan.closes_at
        if closed is not None and when > closed:
            return AFTER_COMPLETED if plan.status == "completed" else AFTER_DECLINED
        return AUTHOR_REPLIES if author is plan.author else CUSTOMER_COMMENTS

    def public_comment(self, plan: Plan, author: User, body: str, when: datetime) -> Comment:
        plan.public_comments += 1
        plan.touch(when)
        self.subscribe(author, plan, SubscriptionLevel.ALL, when)
        return self.new_comment(plan, author, body, when)

    def new_comment(self, plan: Plan, author: User, body: str, when: datetime) -> Comment:
        return Comment(
            idea_id=plan.idea.id,
            author_id=author.id,
            body=body,
            body_html=render_markdown(body),
            created_at=when,
        )

    # Subscriptions and totals ---------------------------------------------------------------

    def subscribe(self, user: User, plan: Plan, level: str, when: datetime) -> None:
        key = (user.id, plan.index)
        current = self.subscriptions.get(key)
        if current is None:
            self.subscriptions[key] = [level, when]
            return
        if level == SubscriptionLevel.ALL:
            current[0] = SubscriptionLevel.ALL
        current[1] = min(current[1], when)

    def finish(self) -> None:
        for plan in self.plans:
            idea = plan.idea
            idea.vote_count = plan.vote_total
            idea.comment_count = plan.public_comments
            idea.updated_at = max(plan.created_at, plan.last_activity or plan.created_at)
            idea.refresh_trending()
        for (user_id, index), (level, when) in self.subscriptions.items():
            idea_id = self.plans[index].idea.id
            self.subscription_rows.append(
                Subscription(user_id=user_id, idea_id=idea_id, level=level, created_at=when)
            )
        counter = db.session.get(Counter, "idea_number")
        if counter is None:
            counter = Counter(name="idea_number")
            db.session.add(counter)
        counter.value = len(self.plans)
        db.session.add_all([*self.changes, *self.votes, *self.comments, *self.subscription_rows])
