"""Faults (issue 7, points 5 and 6): nothing a client was told about is lost.

    .venv/bin/python bench/faults.py                  # all three, full size
    .venv/bin/python bench/faults.py kills --kills 10 --db sqlite
    .venv/bin/python bench/faults.py postgres-restart --outage 10
    .venv/bin/python bench/faults.py mail-down --outage 60

- kills: clients post ideas, vote and comment while every process of the site (gunicorn
  master and workers, the outbox worker) is killed with SIGKILL and restarted, N times.
  Afterwards every acknowledged idea, vote and comment is in the database, the counters
  equal their sums, the outbox drains, and search finds every acknowledged idea within
  10 s of the last restart.
- postgres-restart: a private PostgreSQL cluster is stopped for a while under load and
  started again: requests meanwhile get 503 with Retry-After (never a 500), and the app
  answers again by itself (pool pre-ping), without a restart.
- mail-down: mails are queued while the SMTP server is down; it comes back after the
  outage and every mail arrives exactly once.

Prints figures and PASS/FAIL; asserts nothing (tests/test_load_and_faults.py does).
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import (  # noqa: E402
    Crowd,
    PrivatePostgres,
    Processes,
    Site,
    audit,
    free_port,
    populate,
    request,
    wait_until_searchable,
)

# A killed worker's lease must end before another worker may take its rows; short here,
# two minutes by default (see OUTBOX_LEASE_SECONDS in the README).
FAULT_SETTINGS = {"OUTBOX_LEASE_SECONDS": "5", "OUTBOX_BACKOFF_SECONDS": "1"}


def wait_for_drain(site: Site, within: float) -> tuple[float, int]:
    from sqlalchemy import func

    from portal.extensions import db
    from portal.models import OutboxMessage

    app = site.app()
    started = time.monotonic()
    with app.app_context():
        while True:
            pending = db.session.scalar(
                db.select(func.count(OutboxMessage.id)).filter_by(sent_at=None)
            )
            db.session.rollback()
            if not pending or time.monotonic() - started > within:
                break
            time.sleep(0.5)
        db.session.remove()
        db.engine.dispose()
    return time.monotonic() - started, pending


def kills(kills: int = 10, clients: int = 8, every: float = 3.0, database_url=None,
          search_backend: str = "") -> dict:  # fmt: skip
    settings = dict(FAULT_SETTINGS)
    if search_backend:
        settings["SEARCH_BACKEND"] = search_backend
    site = Site.create(database_url, **settings)
    processes = None
    try:
        population = populate(site, people=clients, ideas=10)
        processes = Processes(site, workers=2, with_outbox_worker=True)
        processes.start()
        crowd = Crowd(processes.port, population, clients, {"vote": 3, "idea": 1, "comment": 1})
        crowd.start()
        for _ in range(kills):
            time.sleep(every)
            processes.kill()
            processes.start()
        last_restart = time.monotonic()
        time.sleep(every)
        crowd.stop()
        _, unfound = wait_until_searchable(processes.port, crowd.ledger, 10)
        search_seconds = time.monotonic() - last_restart
        drain_seconds, pending = wait_for_drain(site, within=60)
        checked = audit(site, population, crowd.ledger)
        ledger = crowd.ledger
        return {
            "kills": kills, "ideas": len(ledger.ideas), "votes": ledger.votes,
            "comments": len(ledger.comments), "server_errors": ledger.server_errors,
            "unanswered": sum(ledger.failures.values()), "lost_ideas": checked.lost_ideas,
            "lost_votes": checked.lost_votes, "lost_comments": checked.lost_comments,
            "uncertain_votes": checked.uncertain_votes, "counters_off": checked.counters_off,
            "outbox_pending": pending, "drain_seconds": round(drain_seconds, 1),
            "search_seconds": round(search_seconds, 1), "unfound": unfound,
        }  # fmt: skip
    finally:
        if processes:
            processes.close()
        site.close()


def postgres_restart(outage: float = 10, clients: int = 8, before: float = 3,
                     after: float = 10) -> dict:  # fmt: skip
    cluster = PrivatePostgres()
    site = processes = None
    try:
        site = Site.create(cluster.url(), SEARCH_BACKEND="postgres")
        population = populate(site, people=clients, ideas=10)
        processes = Processes(site, workers=4)
        processes.start()
        crowd = Crowd(processes.port, population, clients, {"vote": 2, "read": 1})
        crowd.start()
        time.sleep(before)
        cluster.stop()
        time.sleep(outage)
        during = dict(crowd.ledger.statuses)
        cluster.start()
        restarted = time.monotonic()
        recovered = None
        while time.monotonic() - restarted < 60:
            try:
                if request(processes.port, "GET", "/healthz", timeout=5)[0] == 200:
                    recovered = time.monotonic() - restarted
                    break
            except OSError:
                pass
            time.sleep(0.2)
        answered_before_check = crowd.ledger.statuses[200]
        time.sleep(after)
        crowd.stop()
        retry_after = None
        cluster.stop()
        try:  # one more request while down, to read the advice it carries
            status, _, headers = request(processes.port, "GET", "/b/load", timeout=10)
            retry_after = headers.get("Retry-After") if status == 503 else None
        finally:
            cluster.start()
        checked = audit(site, population, crowd.ledger)
        ledger = crowd.ledger
        return {
            "outage_seconds": outage, "answers_503": ledger.statuses[503],
            "server_errors": ledger.server_errors, "unanswered": sum(ledger.failures.values()),
            "recovered_seconds": None if recovered is None else round(recovered, 1),
            "ok_after_restart": ledger.statuses[200] - answered_before_check,
            "retry_after": retry_after, "statuses_until_restart": during,
            "lost_votes": checked.lost_votes, "counters_off": checked.counters_off,
            "first_traceback": processes.errors() if ledger.server_errors else "",
        }  # fmt: skip
    finally:
        if processes:
            processes.close()
        if site:
            site.close()
        cluster.close()


def mail_down(outage: float = 60, mails: int = 50, within: float = 180) -> dict:
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.subjects: list[str] = []

        async def handle_DATA(self, server, session, envelope):
            self.subjects.append(envelope.content.decode(errors="replace").split("Subject: ")[1]
                                 .split("\r\n")[0])  # fmt: skip
            return "250 OK"

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    port = free_port()
    site = Site.create(None, MAIL_URL=f"smtp://127.0.0.1:{port}", **FAULT_SETTINGS)
    processes = None
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    try:
        from portal.extensions import db
        from portal.outbox import queue_email

        app = site.app()
        with app.app_context():
            for n in range(mails):
                queue_email(f"reader{n}@example.com", f"Mail number {n}", "Hello.")
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        processes = Processes(site, workers=1, with_outbox_worker=True)
        processes.start()
        time.sleep(outage)  # the worker tries and fails meanwhile
        controller.start()
        back = time.monotonic()
        while len(set(inbox.subjects)) < mails and time.monotonic() - back < within:
            time.sleep(0.5)
        delivered = time.monotonic() - back
        time.sleep(2)  # anything sent twice would arrive now
        return {
            "mails": mails, "outage_seconds": outage, "arrived": len(set(inbox.subjects)),
            "duplicates": len(inbox.subjects) - len(set(inbox.subjects)),
            "seconds_after_back": round(delivered, 1),
        }  # fmt: skip
    finally:
        controller.stop() if controller.loop.is_running() else None
        if processes:
            processes.close()
        site.close()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default="all",
                        choices=["all", "kills", "postgres-restart", "mail-down"])  # fmt: skip
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--outage", type=float, default=None)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if args.run in ("all", "kills"):
        cluster = PrivatePostgres() if args.db == "postgres" else None
        try:
            result = kills(args.kills, database_url=cluster.url() if cluster else None,
                           search_backend="postgres" if cluster else "")  # fmt: skip
        finally:
            if cluster:
                cluster.close()
        lost = result["lost_ideas"] + result["lost_votes"] + result["lost_comments"]
        ok = not (lost or result["counters_off"] or result["outbox_pending"] or result["unfound"]
                  or result["server_errors"])  # fmt: skip
        print(f"kills ({args.db}): {result}")
        print(f"  {result['kills']} SIGKILLs; acknowledged: {result['ideas']} ideas, "
              f"{result['votes']} votes, {result['comments']} comments; lost {lost}; "
              f"outbox drained in {result['drain_seconds']} s; all ideas findable "
              f"{result['search_seconds']} s after the last restart: {verdict(ok)}")  # fmt: skip
    if args.run in ("all", "postgres-restart"):
        result = postgres_restart(outage=args.outage or 10)
        ok = (not result["server_errors"] and result["recovered_seconds"] is not None
              and not result["lost_votes"] and not result["counters_off"])  # fmt: skip
        print(f"postgres-restart: {result}")
        print(f"  {result['answers_503']} answers 503 (Retry-After {result['retry_after']}), "
              f"{result['server_errors']} other 5xx; answering again "
              f"{result['recovered_seconds']} s after PostgreSQL came back: "
              f"{verdict(ok)}")  # fmt: skip
    if args.run in ("all", "mail-down"):
        result = mail_down(outage=args.outage or 60)
        ok = result["arrived"] == result["mails"] and not result["duplicates"]
        print(f"mail-down: {result}")
        print(f"  {result['arrived']} of {result['mails']} mails arrived, "
              f"{result['duplicates']} twice, {result['seconds_after_back']} s after the "
              f"server came back: {verdict(ok)}")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
