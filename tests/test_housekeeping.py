"""Housekeeping: what nobody needs any more goes, in short batches, and nothing anyone may
still need or see goes with it: pending mail, live sessions, valid links, the audit log."""

import logging
import secrets
import signal
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event

from portal import worker
from portal.config import ConfigError, load_config
from portal.extensions import db
from portal.housekeeping import PRUNE_EVERY_SECONDS, PruneSchedule, prune
from portal.models import (
    AccountToken,
    AuditEntry,
    Comment,
    Idea,
    Notification,
    OutboxMessage,
    Role,
    UserSession,
    Vote,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from portal.operations.sessions import ended_session_clause, session_has_ended
from portal.operations.webhooks.editing import new_secret

DAY = timedelta(days=1)
OLD = 31 * DAY  # past the default RETENTION_DAYS of 30
RECENT = 29 * DAY
PRUNED_TABLES = {
    "outbox_message",
    "webhook_delivery",
    "user_session",
    "account_token",
    "spent_sign_on",
}


# -- believable rows, as the portal leaves them behind --------------------------------


def add(app, *rows) -> list[int]:
    with app.app_context():
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def mail(age=None, sent_age=None, **fields) -> OutboxMessage:
    """An email in the outbox, written `age` ago and sent `sent_age` ago (None: unsent)."""
    written = utcnow() - (age or sent_age or timedelta())
    fields.setdefault("next_attempt_at", written)
    return OutboxMessage(
        kind="email",
        payload={"to": "ada@example.com", "subject": "Planned", "text": "It is planned."},
        created_at=written,
        sent_at=None if sent_age is None else utcnow() - sent_age,
        **fields,
    )


def hook(app) -> int:
    (hook_id,) = add(app, Webhook(url="https://hooks.example.com/in", events=["idea.created"],
                                  secret=new_secret()))  # fmt: skip
    return hook_id


def delivery(hook_id, age, outcome, event="idea.created") -> WebhookDelivery:
    """A delivery created `age` ago: "delivered", "gave_up", "retrying" or "waiting"."""
    created = utcnow() - age
    attempted = created + timedelta(minutes=1) if outcome != "waiting" else None
    return WebhookDelivery(
        webhook_id=hook_id,
        event=event,
        body="{}",
        attempts=0 if outcome == "waiting" else 1,
        created_at=created,
        last_attempt_at=attempted,
        response_code=200 if outcome == "delivered" else 500,
        delivered_at=attempted if outcome == "delivered" else None,
        gave_up_at=attempted if outcome == "gave_up" else None,
    )


def webhook_message(delivery_id, sent_age=None) -> OutboxMessage:
    now = utcnow()
    return OutboxMessage(kind="webhook", payload={"delivery_id": delivery_id},
                         sent_at=None if sent_age is None else now - sent_age)  # fmt: skip


def session(user, created_age, idle_age, remember=False) -> UserSession:
    now = utcnow()
    return UserSession(user_id=user.id, token_hash=secrets.token_hex(32), remember=remember,
                       created_at=now - created_age, last_seen_at=now - idle_age)  # fmt: skip


def link(user, expires_in, used=False) -> AccountToken:
    now = utcnow()
    return AccountToken(user_id=user.id, purpose="reset", token_hash=secrets.token_hex(32),
                        expires_at=now + expires_in, used_at=now - DAY if used else None,
                        created_at=now - 2 * DAY)  # fmt: skip


def ids(app, model) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(db.select(model.id)))


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: db.session.scalar(db.select(db.func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }


def run_prune(app, **options) -> dict[str, int]:
    with app.app_context():
        return prune(**options)


# -- what goes and what stays ---------------------------------------------------------


def test_mail_sent_or_given_up_long_ago_goes_and_pending_mail_of_any_age_stays(app):
    old_sent, old_given_up, recent_sent, old_pending, old_failing, leased = add(
        app,
        mail(sent_age=OLD),
        mail(sent_age=OLD, attempts=3, last_error="GiveUp: the address does not exist"),
        mail(sent_age=RECENT),
        mail(age=400 * DAY),
        mail(age=OLD, attempts=7, last_error="SMTPServerDisconnected: down"),
        mail(age=OLD, locked_until=utcnow() + timedelta(minutes=2)),
    )

    assert run_prune(app)["outbox_messages"] == 2
    assert ids(app, OutboxMessage) == {recent_sent, old_pending, old_failing, leased}
    assert run_prune(app)["outbox_messages"] == 0  # a second run (another worker) finds none


def test_old_settled_deliveries_go_but_never_one_the_outbox_still_needs(app):
    hook_id = hook(app)
    delivered, gave_up, ping, retrying, waiting, still_queued, recent = add(
        app,
        delivery(hook_id, OLD + 5 * DAY, "delivered"),
        delivery(hook_id, OLD + 4 * DAY, "gave_up"),
        delivery(hook_id, OLD + 3 * DAY, "retrying", event=WebhookDelivery.TEST_EVENT),
        delivery(hook_id, OLD + 2 * DAY, "retrying"),
        delivery(hook_id, OLD + 2 * DAY, "waiting"),
        delivery(hook_id, OLD + DAY, "delivered"),
        delivery(hook_id, RECENT, "delivered"),
    )
    add(
        app,
        webhook_message(delivered, sent_age=OLD + 5 * DAY),
        webhook_message(retrying),
        webhook_message(waiting),
        webhook_message(still_queued),  # settled, yet its message has not run: it stays
    )

    removed = run_prune(app)

    assert removed["webhook_deliveries"] == 3
    assert ids(app, WebhookDelivery) == {retrying, waiting, still_queued, recent}
    assert removed["outbox_messages"] == 1  # the delivered one's message, sent long ago


def test_each_hook_keeps_its_newest_attempted_delivery(client, auth, make, app):
    hook_id = hook(app)
    older, newest = add(
        app, delivery(hook_id, OLD + DAY, "delivered"), delivery(hook_id, OLD, "delivered")
    )

    assert run_prune(app)["webhook_deliveries"] == 1
    assert ids(app, WebhookDelivery) == {newest}
    auth.login(make.user(Role.ADMIN))
    listing = client.get("/admin/webhooks")
    assert listing.status_code == 200
    assert "Nothing sent yet" not in listing.text  # the hook's last answer is still shown
    log = client.get(f"/admin/webhooks/{hook_id}/deliveries")
    assert log.status_code == 200
    assert f'id="delivery-{newest}"' in log.text and f'id="delivery-{older}"' not in log.text


def test_ended_sessions_go_and_live_ones_stay(app, make):
    ada = make.user()
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    remembered = app.config["SESSION_REMEMBER_TIMEOUT"]
    oldest = app.config["SESSION_MAX_AGE"]
    ended = add(
        app,
        session(ada, idle + DAY, idle + timedelta(minutes=1)),
        session(ada, remembered + DAY, remembered + timedelta(minutes=1), remember=True),
        session(ada, oldest + timedelta(minutes=1), timedelta(minutes=1), remember=True),
    )
    live = add(
        app,
        session(ada, timedelta(hours=1), timedelta(minutes=1)),
        session(ada, idle + DAY, idle + timedelta(minutes=1), remember=True),
        session(ada, oldest - timedelta(hours=1), idle - timedelta(minutes=1)),
    )

    assert run_prune(app)["sessions"] == len(ended)
    assert ids(app, UserSession) == set(live)


@pytest.mark.parametrize("remember", [False, True])
def test_the_sql_rule_for_ended_sessions_is_session_has_ended(app, make, remember):
    ada = make.user()
    ages = [timedelta(minutes=m) for m in (1, 60 * 23, 60 * 25)] + [
        d * DAY for d in (13, 15, 29, 31)
    ]
    add(app, *(session(ada, max(c, i), i, remember) for c in ages for i in ages))
    now = utcnow()
    with app.app_context():
        rows = db.session.scalars(db.select(UserSession)).all()
        by_python = {row.id for row in rows if session_has_ended(row, now)}
        by_sql = set(db.session.scalars(db.select(UserSession.id).where(ended_session_clause(now))))
    assert by_python and by_python != {row.id for row in rows}  # both kinds are there
    assert by_sql == by_python


def test_used_or_expired_links_go_and_valid_ones_stay(app, make):
    ada = make.user()
    used, expired, valid = add(
        app,
        link(ada, timedelta(hours=1), used=True),
        link(ada, -DAY),
        link(ada, timedelta(hours=1)),
    )

    assert run_prune(app)["account_tokens"] == 2
    assert ids(app, AccountToken) == {valid}


def test_audit_entries_and_everything_people_see_stay_however_old(app, make):
    ada, moderator = make.user(), make.user(Role.MODERATOR)
    number = make.idea(make.board(), ada)
    long_ago = utcnow() - 3 * 365 * DAY
    with app.app_context():
        idea = db.session.scalar(db.select(Idea).filter_by(number=number))
        idea.created_at = long_ago
        db.session.add_all([
            Vote(user_id=moderator.id, idea_id=idea.id, created_at=long_ago),
            Comment(idea_id=idea.id, author_id=moderator.id, body="Seen", body_html="<p>Seen</p>",
                    created_at=long_ago),
            Notification(user_id=ada.id, idea_id=idea.id, kind="status", text="Planned",
                         created_at=long_ago, read_at=long_ago),
            AuditEntry(actor_id=moderator.id, action="idea.hide", target_type="idea",
                       target_id=idea.id, created_at=long_ago),
        ])  # fmt: skip
        db.session.commit()
    add(app, mail(sent_age=OLD), link(ada, -DAY))
    before = row_counts(app)

    removed = run_prune(app)

    after = row_counts(app)
    assert removed == {"outbox_messages": 1, "webhook_deliveries": 0, "sessions": 0,
                       "account_tokens": 1, "spent_sign_ons": 0,
                       "pending_intents": 0}  # fmt: skip
    assert {name: n for name, n in after.items() if name not in PRUNED_TABLES} == {
        name: n for name, n in before.items() if name not in PRUNED_TABLES
    }
    assert after["audit_entry"] == 1 and after["notification"] == 1


def test_retention_comes_from_the_setting(app, monkeypatch):
    week_old = add(app, mail(sent_age=8 * DAY))
    assert run_prune(app)["outbox_messages"] == 0
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 7)
    assert run_prune(app)["outbox_messages"] == 1
    assert not ids(app, OutboxMessage) & set(week_old)


@pytest.mark.parametrize(("env", "days"), [({}, 30), ({"RETENTION_DAYS": "90"}, 90)])
def test_retention_days_is_read_from_the_environment(tmp_path, env, days):
    config = load_config(str(tmp_path), {"PORTAL_ENV": "development", **env})
    assert config["RETENTION_DAYS"] == days


def test_a_retention_that_is_no_number_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="RETENTION_DAYS"):
        load_config(str(tmp_path), {"PORTAL_ENV": "development", "RETENTION_DAYS": "a month"})
    with pytest.raises(ConfigError, match="at most 36500"):  # "forever" would overflow
        load_config(str(tmp_path), {"PORTAL_ENV": "development", "RETENTION_DAYS": "1000000"})


# -- batches -------------------------------------------------------------------------


@pytest.fixture
def deletes(app):
    """The DELETE statements run on the outbox table."""
    seen = []

    def note(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("DELETE FROM OUTBOX_MESSAGE"):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def test_a_backlog_goes_in_batches_each_committed(app, deletes):
    add(app, *(mail(sent_age=OLD) for _ in range(10)), mail(sent_age=RECENT))

    removed = run_prune(app, batch=3)

    assert removed["outbox_messages"] == 10
    assert len(deletes) == 4  # 3 + 3 + 3 + 1: the short batch says it is done
    assert len(ids(app, OutboxMessage)) == 1


def test_a_stopping_worker_stops_between_batches(app, deletes):
    add(app, *(mail(sent_age=OLD) for _ in range(10)))
    asked = []

    def stop_requested():
        asked.append(True)
        return len(asked) > 2  # after two batches

    assert run_prune(app, batch=3, stop_requested=stop_requested)["outbox_messages"] == 6
    assert len(ids(app, OutboxMessage)) == 4  # the rest waits for the next turn


def test_workers_pruning_at_once_remove_each_row_once(app):
    add(app, *(mail(sent_age=OLD) for _ in range(600)))
    start = threading.Barrier(3)
    removed, failures = [], []

    def worker():
        with app.app_context():
            start.wait()
            try:
                removed.append(prune(batch=50)["outbox_messages"])
            except Exception as error:  # a lock timeout or a deadlock would land here
                failures.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sum(removed) == 600
    assert ids(app, OutboxMessage) == set()


# -- the command and the worker -------------------------------------------------------


def test_prune_command_says_how_many_rows_of_each_kind_went(app, make):
    ada = make.user()
    hook_id = hook(app)
    add(
        app,
        *(mail(sent_age=OLD) for _ in range(3)),
        delivery(hook_id, OLD + DAY, "delivered"),
        delivery(hook_id, OLD + DAY, "gave_up"),
        delivery(hook_id, OLD, "delivered"),  # the hook's newest: kept
        session(ada, 40 * DAY, 40 * DAY),
        link(ada, -DAY),
        link(ada, DAY, used=True),
        link(ada, DAY),
    )
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["prune"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Removed 3 outbox messages sent or given up over 30 days ago.",
        "Removed 2 settled webhook deliveries created over 30 days ago.",
        "Removed 1 ended sessions.",
        "Removed 2 used or expired account tokens.",
        "Removed 0 used sign-on tokens past their expiry.",
        "Removed 0 intents pressed before signing in, over a day old.",
    ]


def test_worker_once_only_delivers(app):
    """`worker --once` drains the outbox and exits: scripts and tests call it to send
    what is due, and pruning is `prune`'s job (or the running worker's)."""
    add(app, mail(sent_age=OLD))
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert len(ids(app, OutboxMessage)) == 1


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_worker_prunes_at_its_first_round_then_once_an_hour(app):
    clock = FakeClock()
    schedule = PruneSchedule(clock=clock)
    with app.app_context():
        add(app, mail(sent_age=OLD))
        assert schedule.run_if_due() == {"outbox_messages": 1, "webhook_deliveries": 0,
                                         "sessions": 0, "account_tokens": 0,
                                         "spent_sign_ons": 0, "pending_intents": 0}  # fmt: skip
        add(app, mail(sent_age=OLD))
        clock.now += PRUNE_EVERY_SECONDS - 1
        assert schedule.run_if_due() is None  # polls in between cost nothing
        assert len(ids(app, OutboxMessage)) == 1
        clock.now += 1
        assert schedule.run_if_due()["outbox_messages"] == 1
        assert schedule.run_if_due() is None


def test_a_backlog_goes_a_slice_per_round_so_mail_keeps_flowing(app, monkeypatch):
    monkeypatch.setattr("portal.housekeeping.BATCH", 2)
    monkeypatch.setattr("portal.housekeeping.MAX_BATCHES", 2)
    schedule = PruneSchedule(clock=FakeClock())
    add(app, *(mail(sent_age=OLD) for _ in range(9)))
    with app.app_context():
        assert schedule.run_if_due()["outbox_messages"] == 4  # its limit: due again at once
        assert schedule.run_if_due()["outbox_messages"] == 4
        assert schedule.run_if_due()["outbox_messages"] == 1  # done: not before an hour
        assert schedule.run_if_due() is None
    assert ids(app, OutboxMessage) == set()


def test_a_failing_prune_is_logged_and_waits_for_its_next_turn(app, monkeypatch, caplog):
    clock = FakeClock()
    schedule = PruneSchedule(clock=clock)

    def broken(**_options):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("portal.housekeeping.prune", broken)
    with app.app_context(), caplog.at_level(logging.ERROR, logger="portal.housekeeping"):
        assert schedule.run_if_due() is None
        assert schedule.run_if_due() is None  # not again at the next poll
    assert "housekeeping failed" in caplog.text
    clock.now += PRUNE_EVERY_SECONDS
    assert schedule.is_due()


def test_the_running_worker_prunes_without_being_asked(app, monkeypatch):
    add(app, mail(sent_age=OLD), mail(age=OLD, next_attempt_at=utcnow() + DAY))
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    # Its first idle pause asks it to stop, as systemd would.
    monkeypatch.setattr(worker.time, "sleep", lambda _s: signal.raise_signal(signal.SIGTERM))
    try:
        with app.app_context():
            worker.run_worker(poll_seconds=0)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
    with app.app_context():
        (left,) = db.session.scalars(db.select(OutboxMessage)).all()
        assert left.sent_at is None  # the pending message stays for its retry
