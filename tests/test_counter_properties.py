"""Random sequences of votes, retractions, weight changes, status changes, merges, undos,
hides and restores keep every counter equal to the sum of its votes, leave no budget
overspent, and put merged votes where the rules say (issue 8, point 7; issue 18, point 5).

A small model of the rules (SPEC sections 2 and 3, docs/decisions/0006) runs beside the real
operations on the real database. Hypothesis drives both with the same steps; after every
step they must agree on every vote (its weight, and which row it is), every status and
every merge, and the database must hold its own invariants.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conftest import PASSWORD_HASH
from portal import statuses
from portal.extensions import db
from portal.models import AuditEntry, Board, Idea, Merge, Role, User, Vote, utcnow
from portal.operations import Conflict, OperationError
from portal.operations.ideas import submit_idea
from portal.operations.merges import merge_ideas, undo_merge
from portal.operations.moderation import moderate
from portal.operations.status import change_status
from portal.operations.votes import budget_used, cast_vote, retract_vote

pytestmark = pytest.mark.long  # make test-long: random steps checked after each

# Two boards: one with a budget of 4 votes and up to 3 per idea, one unlimited with up to 2.
BOARDS = {"budget": (4, 3), "free": (0, 2)}
IDEAS = ["budget", "budget", "budget", "free", "free"]  # each idea's board
VOTERS = 3
STATUSES = ["open", "under_review", "planned", "started", "completed", "declined", "duplicate"]
EXAMPLES, STEPS = 30, 25


def holds_votes(status: str) -> bool:
    return status in ("open", "under_review", "planned", "started")


@dataclass
class MergeRecord:
    source: int
    target: int
    status: str
    moved: dict = field(default_factory=dict)  # voter: (row, weight before a trim or None)
    kept: dict = field(default_factory=dict)  # voter: (target row, target weight, own weight)
    dropped: dict = field(default_factory=dict)  # voter: weight
    undone: bool = False


class Model:
    """The rules, on plain dicts: votes[(voter, idea)] = [weight, row]."""

    def __init__(self):
        self.votes: dict[tuple[int, int], list[int]] = {}
        self.status = ["open"] * len(IDEAS)
        self.public = [True] * len(IDEAS)  # hidden ideas hold no budget votes
        self.merged_into: list[int | None] = [None] * len(IDEAS)
        self.merges: list[MergeRecord] = []
        self.rows = count(1)

    def used(self, voter: int, board: str) -> int:
        return sum(
            weight
            for (v, i), (weight, _row) in self.votes.items()
            if v == voter and IDEAS[i] == board and holds_votes(self.status[i]) and self.public[i]
        )

    def room(self, voter: int, idea: int) -> int | None:
        budget = BOARDS[IDEAS[idea]][0]
        if not budget or not holds_votes(self.status[idea]) or not self.public[idea]:
            return None
        return budget - self.used(voter, IDEAS[idea])

    def voters(self, idea: int) -> list[int]:
        return sorted(v for (v, i) in self.votes if i == idea)

    def vote(self, voter: int, idea: int, weight: int) -> bool:
        open_here = holds_votes(self.status[idea]) and self.public[idea]
        if not 1 <= weight <= BOARDS[IDEAS[idea]][1] or not open_here:
            return False
        old = self.votes.get((voter, idea), [0, None])
        room = self.room(voter, idea)
        if room is not None and weight - old[0] > room:
            return False
        if old[1] is None:
            self.votes[(voter, idea)] = [weight, next(self.rows)]
        else:
            old[0] = weight
        return True

    def retract(self, voter: int, idea: int) -> bool:
        if not holds_votes(self.status[idea]):
            return False
        self.votes.pop((voter, idea), None)
        return True

    def change_status(self, idea: int, target: str) -> bool:
        old = self.status[idea]
        if old == "duplicate" or target in (old, "duplicate"):
            return False
        self.status[idea] = target
        if not holds_votes(old) and holds_votes(target):
            self.fit(idea)
        return True

    def fit(self, idea: int) -> None:
        """Reopened or restored: take back what each voter has since spent elsewhere on the
        board."""
        budget = BOARDS[IDEAS[idea]][0]
        if not budget or not holds_votes(self.status[idea]) or not self.public[idea]:
            return
        for voter in self.voters(idea):
            over = self.used(voter, IDEAS[idea]) - budget
            if over <= 0:
                continue
            vote = self.votes[(voter, idea)]
            if over >= vote[0]:
                del self.votes[(voter, idea)]
            else:
                vote[0] -= over

    def merge(self, source: int, target: int) -> bool:
        if source == target or "duplicate" in (self.status[source], self.status[target]):
            return False
        if not self.public[target]:  # a merge goes into a public original only
            return False
        record = MergeRecord(source, target, self.status[source])
        self.status[source], self.merged_into[source] = "duplicate", target
        cap = BOARDS[IDEAS[target]][1]
        for voter in self.voters(source):
            weight, row = self.votes.pop((voter, source))
            original = self.votes.get((voter, target))
            allowed = min(weight, cap)
            room = self.room(voter, target)
            if room is not None:
                allowed = min(allowed, room + (original[0] if original else 0))
            if original is not None:
                record.kept[voter] = (original[1], original[0], weight)
                original[0] = max(original[0], allowed)
            elif allowed == 0:
                record.dropped[voter] = weight
            else:
                record.moved[voter] = (row, weight if allowed != weight else None)
                self.votes[(voter, target)] = [allowed, row]
        self.merges.append(record)
        return True

    def undo(self, index: int) -> bool:
        record = self.merges[index]
        source, target = record.source, record.target
        if record.undone or self.status[target] == "duplicate":
            return False
        cap = BOARDS[IDEAS[source]][1]
        for voter, (row, before_trim) in record.moved.items():
            vote = self.votes.get((voter, target))
            if vote is not None and vote[1] == row:
                del self.votes[(voter, target)]
                self.votes[(voter, source)] = [min(before_trim or vote[0], cap), row]
        for voter, (row, target_weight, own_weight) in record.kept.items():
            vote = self.votes.get((voter, target))
            if vote is not None and vote[1] == row:
                vote[0] = min(vote[0], target_weight)
                self.votes[(voter, source)] = [min(own_weight, cap), next(self.rows)]
        for voter, weight in record.dropped.items():
            self.votes[(voter, source)] = [min(weight, cap), next(self.rows)]
        self.status[source], self.merged_into[source] = record.status, None
        record.undone = True
        self.fit(source)
        return True

    def hide(self, idea: int) -> bool:
        self.public[idea] = False
        return True

    def restore(self, idea: int) -> bool:
        was_public, self.public[idea] = self.public[idea], True
        if not was_public:
            self.fit(idea)
        return True


def build_world() -> dict:
    """Empty tables, then the boards, people and ideas of one run; returns their ids."""
    for table in reversed(db.metadata.sorted_tables):  # on these few rows, faster than TRUNCATE
        db.session.execute(table.delete())
    # The deletes bypass the session: forget the last run's objects, or a new board with a
    # reused id meets its predecessor in the identity map (while a reference keeps it alive).
    db.session.expunge_all()
    old = utcnow() - timedelta(days=2)  # past the brakes on new accounts
    people = []
    for n, role in enumerate([Role.CUSTOMER] * (VOTERS + 1) + [Role.OWNER, Role.MODERATOR]):
        person = User(email=f"p{n}@example.com", name=f"Person {n}", password_hash=PASSWORD_HASH,
                      email_verified_at=old, created_at=old, is_trusted=True)  # fmt: skip
        person.role = role
        people.append(person)
    boards = {
        name: Board(slug=name, name=name.title(), votes_per_user=budget, max_votes_per_idea=cap)
        for name, (budget, cap) in BOARDS.items()
    }
    db.session.add_all([*people, *boards.values()])
    db.session.flush()
    author = people[VOTERS]
    ideas = [
        submit_idea(author, boards[name], f"Idea number {n} for the product", "Details.")
        for n, name in enumerate(IDEAS)
    ]
    db.session.commit()
    return {
        "voters": [p.id for p in people[:VOTERS]],
        "owner": people[VOTERS + 1].id,
        "moderator": people[VOTERS + 2].id,
        "ideas": [idea.id for idea in ideas],
        "boards": {name: board.id for name, board in boards.items()},
    }


class Counters(RuleBasedStateMachine):
    """The real operations and the model, step by step; refusals must match too."""

    def __init__(self):
        super().__init__()
        self.ids = build_world()
        self.model = Model()
        self.merge_ids: list[int] = []
        self.rows: dict[int, int] = {}  # the model's row -> the database's vote id
        self.steps = 0

    def idea(self, index: int) -> Idea:
        return db.session.get(Idea, self.ids["ideas"][index])

    def person(self, key: str, index: int | None = None) -> User:
        return db.session.get(User, self.ids[key][index] if index is not None else self.ids[key])

    def apply(self, expected: bool, operation) -> None:
        """Run one operation in its own transaction; it must succeed exactly when the model
        says so (a refusal is an OperationError and changes nothing)."""
        self.steps += 1
        try:
            result = operation()
            db.session.commit()
            done = True
        except OperationError:
            db.session.rollback()
            done, result = False, None
        assert done == expected, f"the operation {'failed' if expected else 'succeeded'}"
        db.session.expire_all()
        return result

    @rule(voter=st.integers(0, VOTERS - 1), idea=st.integers(0, len(IDEAS) - 1),
          weight=st.integers(1, 3))  # fmt: skip
    def vote(self, voter, idea, weight):
        expected = self.model.vote(voter, idea, weight)
        self.apply(
            expected, lambda: cast_vote(self.person("voters", voter), self.idea(idea), weight)
        )

    @rule(voter=st.integers(0, VOTERS - 1), idea=st.integers(0, len(IDEAS) - 1))
    def retract(self, voter, idea):
        expected = self.model.retract(voter, idea)
        self.apply(expected, lambda: retract_vote(self.person("voters", voter), self.idea(idea)))

    @rule(idea=st.integers(0, len(IDEAS) - 1), status=st.sampled_from(STATUSES))
    def change_status(self, idea, status):
        expected = self.model.change_status(idea, status)
        self.apply(expected, lambda: change_status(self.person("owner"), self.idea(idea), status))

    @rule(duplicate=st.integers(0, len(IDEAS) - 1), original=st.integers(0, len(IDEAS) - 1))
    def merge(self, duplicate, original):
        expected = self.model.merge(duplicate, original)
        moderator = self.person("moderator")
        merge = self.apply(
            expected, lambda: merge_ideas(moderator, self.idea(duplicate), self.idea(original))
        )
        if expected:
            self.merge_ids.append(merge.id)

    @precondition(lambda self: self.merge_ids)
    @rule(pick=st.integers(0, 10))
    def undo(self, pick):
        index = pick % len(self.merge_ids)
        expected = self.model.undo(index)
        self.apply(
            expected,
            lambda: undo_merge(
                self.person("moderator"), db.session.get(Merge, self.merge_ids[index])
            ),
        )

    @rule(idea=st.integers(0, len(IDEAS) - 1))
    def hide(self, idea):
        expected = self.model.hide(idea)
        moderator = self.person("moderator")
        self.apply(expected, lambda: moderate(moderator, "idea", self.idea(idea), "hide", "Spam."))

    @rule(idea=st.integers(0, len(IDEAS) - 1))
    def restore(self, idea):
        expected = self.model.restore(idea)
        moderator = self.person("moderator")
        self.apply(expected, lambda: moderate(moderator, "idea", self.idea(idea), "restore"))

    @invariant()
    def the_database_agrees_with_the_model(self):
        """Every vote (weight and row), status and merge as the model has them; counters
        equal to their sums; no budget overspent, no vote heavier than its board allows."""
        ideas = {idea_id: n for n, idea_id in enumerate(self.ids["ideas"])}
        voters = {user_id: n for n, user_id in enumerate(self.ids["voters"])}
        found = {
            (voters[user_id], ideas[idea_id]): (weight, vote_id)
            for user_id, idea_id, weight, vote_id in db.session.execute(
                db.select(Vote.user_id, Vote.idea_id, Vote.weight, Vote.id)
            )
        }
        assert {key: weight for key, (weight, _id) in found.items()} == {
            key: weight for key, (weight, _row) in self.model.votes.items()
        }
        for key, (_weight, row) in self.model.votes.items():  # the same rows moved
            assert self.rows.setdefault(row, found[key][1]) == found[key][1], key
        for idea_id, status, merged_into_id, vote_count in db.session.execute(
            db.select(Idea.id, Idea.status, Idea.merged_into_id, Idea.vote_count)
        ):
            n = ideas[idea_id]
            assert vote_count == sum(w for (_v, i), (w, _id) in found.items() if i == n), n
            assert status == self.model.status[n], f"idea {n}"
            merged_into = self.model.merged_into[n]
            assert merged_into_id == (
                None if merged_into is None else self.ids["ideas"][merged_into]
            )
        for (_voter, idea), (weight, _id) in found.items():
            assert weight <= BOARDS[IDEAS[idea]][1]
        for n in range(VOTERS):
            assert self.model.used(n, "budget") <= BOARDS["budget"][0], f"voter {n} overspent"

    def teardown(self):
        """What the voters see of their budgets is what the model counts."""
        db.session.rollback()
        board = db.session.get(Board, self.ids["boards"]["budget"])
        for n in range(VOTERS):
            assert budget_used(self.person("voters", n), board) == self.model.used(n, "budget")
        STEPS_RUN.append(self.steps)


STEPS_RUN: list[int] = []


def test_counters_and_budgets_hold_through_random_steps(app):
    STEPS_RUN.clear()
    # One POST request around the run, as the views call these operations: SQLite writes
    # take the write lock up front, and the statuses are read once, not at every use.
    with app.test_request_context(method="POST"):
        assert statuses.voting_statuses() == [s for s in STATUSES if holds_votes(s)]
        run_state_machine_as_test(
            Counters,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
                database=None,  # no example folder in the checkout; failures print their steps
            ),
        )
    print(f"{len(STEPS_RUN)} runs, {sum(STEPS_RUN)} steps")
    assert len(STEPS_RUN) >= EXAMPLES


# -- the cases the machine found, as worked examples ----------------------------------


class World:
    """A budget board (4 votes, up to 3 per idea), a free board (up to 2 per idea), staff."""

    def __init__(self, make):
        self.make = make
        self.budget = make.board("budget", votes_per_user=4, max_votes_per_idea=3)
        self.free = make.board("free", votes_per_user=0, max_votes_per_idea=2)
        self.author = make.user()
        self.owner = make.user(Role.OWNER)
        self.moderator = make.user(Role.MODERATOR)

    def idea(self, board_id, title) -> Idea:
        number = self.make.idea(board_id, self.author, title)
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        db.session.commit()  # on SQLite, the factory's own session waits for this one
        return idea

    def vote(self, user, idea, weight) -> None:
        cast_vote(db.session.get(User, user.id), idea, weight)
        db.session.commit()

    def status(self, idea, status) -> None:
        change_status(db.session.get(User, self.owner.id), idea, status)
        db.session.commit()

    def merge(self, duplicate, original) -> Merge:
        merge = merge_ideas(db.session.get(User, self.moderator.id), duplicate, original)
        db.session.commit()
        return merge

    def undo(self, merge) -> None:
        undo_merge(db.session.get(User, self.moderator.id), db.session.get(Merge, merge.id))
        db.session.commit()


def weights(idea) -> dict[int, int]:
    db.session.expire_all()
    found = dict(
        db.session.execute(db.select(Vote.user_id, Vote.weight).filter_by(idea_id=idea.id)).all()
    )
    assert db.session.get(Idea, idea.id).vote_count == sum(found.values())
    db.session.commit()
    return found


def used(user, board_id) -> int:
    spent = budget_used(db.session.get(User, user.id), db.session.get(Board, board_id))
    db.session.commit()
    return spent


def test_reopening_gives_back_only_the_votes_not_spent_since(ctx, make):
    world = World(make)
    dark, csv = world.idea(world.budget, "Dark mode"), world.idea(world.budget, "CSV export")
    voter, patient = make.user(), make.user()
    world.vote(voter, dark, 3)
    world.vote(patient, dark, 2)
    world.status(dark, "completed")  # both votes are back in their budgets
    world.vote(voter, csv, 2)  # the voter spends two of them again
    world.status(dark, "open")  # reopened: 3 + 2 would be 5 of 4
    assert weights(dark) == {voter.id: 2, patient.id: 2}
    assert used(voter, world.budget) == 4
    entry = db.session.scalars(db.select(AuditEntry).filter_by(action="idea.status")).all()[-1]
    assert entry.after == {"status": "open", "votes_taken_back": {str(voter.id): 1}}


def test_a_merge_moves_no_more_than_the_original_board_allows(ctx, make):
    world = World(make)
    duplicate = world.idea(world.free, "Export as CSV")
    original, other = world.idea(world.budget, "CSV export"), world.idea(world.budget, "Dark mode")
    spender, fresh, both = make.user(), make.user(), make.user()
    for user in (spender, fresh, both):
        world.vote(user, duplicate, 2)
    world.vote(spender, other, 3)  # one vote left on the budget board
    world.vote(both, original, 1)
    merge = world.merge(duplicate, original)
    assert weights(original) == {spender.id: 1, fresh.id: 2, both.id: 2}
    assert used(spender, world.budget) == 4
    world.undo(merge)  # every vote as it was
    assert weights(duplicate) == {spender.id: 2, fresh.id: 2, both.id: 2}
    assert weights(original) == {both.id: 1}


def test_a_vote_with_no_room_left_comes_back_with_the_undo(ctx, make):
    world = World(make)
    duplicate = world.idea(world.free, "Export as CSV")
    original, other = world.idea(world.budget, "CSV export"), world.idea(world.budget, "Dark mode")
    spender = make.user()
    world.vote(spender, duplicate, 1)
    world.vote(spender, other, 3)
    world.vote(spender, original, 1)  # the budget is spent
    world.vote(make.user(), duplicate, 1)
    merge = world.merge(duplicate, original)
    world.vote(spender, original, 1)  # a vote on the original stays as it was
    world.undo(merge)
    assert spender.id in weights(duplicate) and weights(original)[spender.id] == 1


def test_votes_heavier_than_the_original_board_allows_are_lightened(ctx, make):
    world = World(make)
    duplicate, original = (
        world.idea(world.budget, "CSV export"),
        world.idea(world.free, "CSV files"),
    )
    voter = make.user()
    world.vote(voter, duplicate, 3)
    merge = world.merge(duplicate, original)
    assert weights(original) == {voter.id: 2}  # the free board takes 2 per idea
    world.undo(merge)
    assert weights(duplicate) == {voter.id: 3}


def test_the_undo_gives_back_only_the_budget_not_spent_since(ctx, make):
    world = World(make)
    duplicate, original = (
        world.idea(world.budget, "CSV export"),
        world.idea(world.free, "CSV files"),
    )
    other = world.idea(world.budget, "Dark mode")
    voter = make.user()
    world.vote(voter, duplicate, 3)
    merge = world.merge(duplicate, original)  # the duplicate's 3 budget votes are free again
    world.vote(voter, other, 3)
    world.undo(merge)
    assert weights(duplicate) == {voter.id: 1} and used(voter, world.budget) == 4


def test_an_undo_after_the_voter_took_their_vote_back_keeps_that_choice(ctx, make):
    world = World(make)
    duplicate, original = world.idea(world.free, "CSV export"), world.idea(world.free, "CSV files")
    voter = make.user()
    world.vote(voter, duplicate, 1)
    world.vote(voter, original, 2)
    merge = world.merge(duplicate, original)
    retract_vote(db.session.get(User, voter.id), original)  # this used to make undo fail
    db.session.commit()
    world.undo(merge)
    assert weights(duplicate) == {} and weights(original) == {}


def test_a_merge_whose_original_was_merged_on_is_undone_after_that_one(ctx, make):
    world = World(make)
    first, second = world.idea(world.free, "CSV export"), world.idea(world.free, "Export CSV")
    third = world.idea(world.free, "Reports as CSV")
    voter = make.user()
    world.vote(voter, first, 2)
    into_second = world.merge(first, second)
    into_third = world.merge(second, third)
    with pytest.raises(Conflict, match="merged into another idea since"):
        world.undo(into_second)  # its votes went on to the third idea: they'd come from there
    db.session.rollback()
    world.undo(into_third)
    world.undo(into_second)
    assert weights(first) == {voter.id: 2} and weights(second) == weights(third) == {}
