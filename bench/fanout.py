"""Fan-out benchmark: a status change on an idea with 10,000 followers.

Issue 4 asks that such a change must not slow the product owner's request: the request
only records one outbox row, and the worker tells the followers. This builds a fresh
SQLite site under bench/results/fanout/ (10,000 customers following one idea, one idea
with no followers), then reports:

  1. the owner's status-change request (POST /ideas/N/status, in-process) on the idea
     with 10,000 followers and on the one with none, p50 of 5 changes each;
  2. the worker's fan-out of one such change: notices written and mails queued, and how
     long that took (the mails themselves are sent later, like any outbox mail).

It only reports and exits 0. `.venv/bin/python bench/fanout.py [--followers N]`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from werkzeug.security import generate_password_hash

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: app setup and helpers)

from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    Board,
    Notification,
    OutboxMessage,
    Role,
    Subscription,
    User,
    utcnow,
)
from portal.notifications import FANOUT  # noqa: E402
from portal.operations.ideas import submit_idea  # noqa: E402
from portal.search import get_backend  # noqa: E402
from portal.worker import deliver  # noqa: E402

STATUSES = ["under_review", "planned", "started", "under_review", "planned"]


def build(app, followers: int) -> tuple[int, int]:
    """An owner, a board, an idea followed by `followers` customers and one followed by none."""
    with app.app_context():
        db.create_all()
        get_backend().rebuild([])  # the search index, as a new site has it
        owner = User(
            email="owner@example.com", name="Olga Owner", email_verified_at=utcnow(),
            password_hash=generate_password_hash(run.PASSWORD),
        )  # fmt: skip
        owner.role = Role.OWNER
        board = Board(slug="features", name="Features")
        db.session.add_all([owner, board])
        db.session.flush()
        busy = submit_idea(owner, board, "Dark mode for the editor", "Please.")
        quiet = submit_idea(owner, board, "Export reports as CSV", "Please.")
        db.session.flush()
        now = utcnow()
        db.session.execute(
            db.insert(User),
            [
                {"email": f"c{n}@example.com", "name": f"Customer {n}", "role_value": 1,
                 "password_hash": "x", "email_verified_at": now, "created_at": now,
                 "totp_last_step": 0, "email_preference": "status",
                 "email_frequency": "instant", "is_blocked": False, "is_trusted": False}
                for n in range(followers)
            ],
        )  # fmt: skip
        ids = db.session.scalars(db.select(User.id).where(User.email.like("c%@example.com")))
        db.session.execute(
            db.insert(Subscription),
            [{"user_id": i, "idea_id": busy.id, "level": "status", "muted": False,
              "created_at": now} for i in ids],
        )  # fmt: skip
        db.session.commit()
        return busy.number, quiet.number


def time_changes(client, number: int) -> float:
    times = []
    for status in STATUSES:
        started = time.perf_counter()
        answer = client.post(f"/ideas/{number}/status", data={"status": status, "response": "."})
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 303:
            print(f"  ! status change answered {answer.status_code}")
    return run.percentile(times, 0.5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=10_000)
    args = parser.parse_args(argv)
    instance = run.RESULTS / "fanout"
    shutil.rmtree(instance, ignore_errors=True)
    instance.mkdir(parents=True)
    app = run.make_app(run.environment(instance), WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    started = time.perf_counter()
    busy, quiet = build(app, args.followers)
    print(f"Built {args.followers:,} followers in {time.perf_counter() - started:.1f} s")
    client = run.signed_in_client(app, "owner@example.com")
    with_followers, without = time_changes(client, busy), time_changes(client, quiet)
    with app.app_context():
        message_id = db.session.scalar(
            db.select(OutboxMessage.id)
            .where(OutboxMessage.kind == FANOUT)
            .order_by(OutboxMessage.id)
        )
        started = time.perf_counter()
        deliver(message_id)
        fan_out_seconds = time.perf_counter() - started
        notices = db.session.scalar(db.select(db.func.count(Notification.id)))
        mails = db.session.scalar(
            db.select(db.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "email")
        )
    print()
    print(f"Stimme fan-out benchmark: one idea with {args.followers:,} followers, SQLite")
    print(
        f"1. Owner's status change, in-process p50 of {len(STATUSES)}: {with_followers:.1f} ms "
        f"with {args.followers:,} followers, {without:.1f} ms with none"
    )
    print(
        f"2. Worker fan-out of one change: {notices:,} notices and {mails:,} mails queued in "
        f"{fan_out_seconds:.1f} s ({args.followers / fan_out_seconds:,.0f} followers/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
