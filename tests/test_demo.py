"""`seed-demo` (SPEC section 11): an empty database becomes a believable, consistent site."""

from collections import defaultdict
from datetime import timedelta

import pytest
from werkzeug.security import check_password_hash

from portal import statuses, workflow
from portal.demo import DemoError, seed_demo
from portal.extensions import db
from portal.models import (
    Board,
    Comment,
    Counter,
    Idea,
    Role,
    StatusChange,
    Subscription,
    User,
    Vote,
    trending_score,
    utcnow,
)

PASSWORD = "demo password 42"


def seeded(ideas: int = 300) -> dict:
    result = seed_demo(ideas=ideas, password=PASSWORD)
    db.session.commit()
    return result


def all_of(model) -> list:
    return list(db.session.scalars(db.select(model)))


def test_seed_fills_accounts_boards_and_ideas(ctx):
    result = seeded()

    staff = ["admin@example.com", "owner@example.com", "moderator@example.com"]
    customers = [f"customer{n}@example.com" for n in range(1, 51)]
    assert result["accounts"] == staff + customers
    assert result["password"] == PASSWORD
    users = {user.email: user for user in all_of(User)}
    assert sorted(users) == sorted(staff + customers)
    assert users["admin@example.com"].role is Role.ADMIN
    assert users["owner@example.com"].role is Role.OWNER
    assert users["moderator@example.com"].role is Role.MODERATOR
    assert {users[email].role for email in customers} == {Role.CUSTOMER}
    assert len({users[email].name for email in customers}) == 50
    month_ago = utcnow() - timedelta(days=30)
    for user in users.values():
        assert user.email_verified_at is not None
        assert user.created_at < month_ago and not user.is_new
    assert check_password_hash(users["customer7@example.com"].password_hash, PASSWORD)

    boards = all_of(Board)
    assert len(boards) == result["boards"] == 3
    assert [b.slug for b in boards if b.is_private] == ["staff-sandbox"]
    assert not any(b.hold_new_posts for b in boards)
    assert all(3 <= len(b.categories) <= 5 and b.description for b in boards)

    ideas = all_of(Idea)
    assert len(ideas) == result["ideas"] == 300
    assert sorted(i.number for i in ideas) == list(range(1, 301))
    assert db.session.get(Counter, "idea_number").value == 300
    per_board = defaultdict(int)
    for idea in ideas:
        per_board[idea.board.slug] += 1
        assert 5 <= len(idea.title.strip()) <= 120
        assert idea.body and idea.body_html.startswith("<")
        assert idea.created_at <= idea.updated_at
    assert per_board == {"feature-requests": 180, "mobile-app": 90, "staff-sandbox": 30}
    assert len({i.title for i in ideas}) > 280, "titles should rarely repeat"
    by_number = sorted(ideas, key=lambda i: i.number)
    assert [i.created_at for i in by_number] == sorted(i.created_at for i in ideas)
    # Customers never see the private board, so only staff write there.
    assert all(i.author.is_staff for i in ideas if i.board.is_private)


def test_counts_equal_votes_and_public_comments(ctx):
    result = seeded()
    ideas = all_of(Idea)
    votes = all_of(Vote)
    comments = all_of(Comment)
    assert len(votes) == result["votes"] and len(comments) == result["comments"]
    assert len({(v.user_id, v.idea_id) for v in votes}) == len(votes)

    weights = defaultdict(int)
    for vote in votes:
        weights[vote.idea_id] += vote.weight
    public = defaultdict(int)
    for comment in comments:
        public[comment.idea_id] += comment.is_public
    for idea in ideas:
        assert idea.vote_count == weights[idea.id], idea.number
        assert idea.comment_count == public[idea.id], idea.number
        assert idea.trending == trending_score(idea.vote_count, idea.comment_count, idea.created_at)

    counts = sorted((i.vote_count for i in ideas), reverse=True)
    assert counts[0] >= 30 and counts[len(counts) // 2] <= 8, "a long tail of votes"
    assert any(c.is_official for c in comments) and any(c.is_internal for c in comments)
    assert max(public.values()) <= 6

    subscriptions = {(s.user_id, s.idea_id): s.level for s in all_of(Subscription)}
    assert len(subscriptions) == len(all_of(Subscription))
    for idea in ideas:
        assert subscriptions[idea.author_id, idea.id] == "all"
    for vote in votes:
        assert (vote.user_id, vote.idea_id) in subscriptions
    for comment in comments:
        if comment.is_public:
            assert subscriptions[comment.author_id, comment.idea_id] == "all"


def test_every_status_appears_with_its_history(ctx):
    seeded()
    ideas = all_of(Idea)
    assert {i.status for i in ideas} == set(statuses.STATUSES)
    changes = defaultdict(list)
    for change in all_of(StatusChange):
        changes[change.idea_id].append(change)

    recently_completed = 0
    for idea in ideas:
        history = sorted(changes[idea.id], key=lambda c: c.created_at)
        if idea.status == workflow.OPEN:
            assert not history and idea.status_changed_at is None
            continue
        assert history[0].from_status == workflow.OPEN
        assert history[-1].to_status == idea.status
        assert idea.status_changed_at == history[-1].created_at
        assert history[0].created_at > idea.created_at
        for before, after in zip(history, history[1:], strict=False):
            assert after.from_status == before.to_status
        assert all(c.author.role is Role.OWNER for c in history)
        assert all(bool(c.response) == bool(c.response_html) for c in history)
        if idea.status == "completed":
            recently_completed += utcnow() - idea.status_changed_at < timedelta(days=90)
    assert recently_completed >= 3, "the roadmap shows recently shipped ideas"

    duplicates = [i for i in ideas if i.status == workflow.DUPLICATE]
    assert 2 <= len(duplicates) <= 3
    for duplicate in duplicates:
        canonical = duplicate.merged_into
        assert canonical.board_id == duplicate.board_id
        assert canonical.status != workflow.DUPLICATE
        assert duplicate.vote_count == 0
        assert f"#{canonical.number}" in changes[duplicate.id][-1].response


def test_no_customer_overspends_a_vote_budget(ctx):
    seeded()
    boards = {board.id: board for board in all_of(Board)}
    ideas = {idea.id: idea for idea in all_of(Idea)}
    spent = defaultdict(int)
    for vote in all_of(Vote):
        idea = ideas[vote.idea_id]
        board = boards[idea.board_id]
        assert 1 <= vote.weight <= board.max_votes_per_idea
        if board.has_budget and statuses.accepts_votes(idea.status):
            spent[vote.user_id, board.id] += vote.weight
    mobile = next(b for b in boards.values() if b.slug == "mobile-app")
    assert mobile.votes_per_user == 10 and mobile.max_votes_per_idea == 3
    assert spent, "the budget board has budget votes"
    assert max(spent.values()) <= 10


def test_seeding_twice_is_refused(ctx):
    seeded(ideas=30)
    with pytest.raises(DemoError, match="already has ideas"):
        seed_demo(ideas=30)
    assert db.session.scalar(db.select(db.func.count(Idea.id))) == 30


def test_random_password_and_small_seeds(ctx):
    result = seed_demo(ideas=25)
    db.session.commit()
    password = result["password"]
    assert len(password) >= 12
    admin = db.session.scalar(db.select(User).filter_by(email="admin@example.com"))
    assert check_password_hash(admin.password_hash, password)
    assert {i.status for i in all_of(Idea)} == set(statuses.STATUSES)


def test_demo_site_renders(ctx, client):
    seeded(ideas=60)
    assert client.get("/").status_code == 200
    assert client.get("/b/feature-requests").status_code == 200
    assert client.get("/b/staff-sandbox").status_code == 404
    public = db.session.scalars(
        db.select(Idea.number).join(Board).where(~Board.is_private, Idea.merged_into_id.is_(None))
    ).all()
    private = db.session.scalars(db.select(Idea.number).join(Board).where(Board.is_private)).all()
    for number in public[:10]:
        assert client.get(f"/ideas/{number}").status_code == 200
    assert client.get(f"/ideas/{private[0]}").status_code == 404
