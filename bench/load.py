"""Votes under load (issue 7, point 4): many clients voting and unvoting at once.

    .venv/bin/python bench/load.py                      # SQLite (2 processes), then PostgreSQL (4)
    .venv/bin/python bench/load.py --db sqlite --clients 50 --seconds 60

Each client has its own API token and toggles its vote on one of 20 ideas as fast as
the answers come. Afterwards every vote a client was told about must be in the database
as told, and every idea's vote_count must equal the sum of its votes. Prints votes/s,
latency and PASS/FAIL; asserts nothing (tests/test_load_and_faults.py does, smaller).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import Crowd, Processes, Site, audit, percentile, pg_admin, pg_url, populate  # noqa: E402

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


def run(db: str, clients: int, seconds: float, workers: int, postgres: str = POSTGRES) -> dict:
    """One load run on a new database: SQLite, or one made on the `postgres` server."""
    database = None
    if db == "sqlite":
        url = None
    else:
        database = f"stimme_load_{os.getpid()}"
        pg_admin(postgres, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        pg_admin(postgres, f"CREATE DATABASE {database}")
        url = pg_url(postgres, database)
    site = None
    processes = None
    try:
        # On PostgreSQL, as in production: search in the database too.
        site = Site.create(url, SEARCH_BACKEND="postgres") if url else Site.create()
        population = populate(site, people=clients, ideas=20)
        processes = Processes(site, workers)
        processes.start()
        crowd = Crowd(processes.port, population, clients, {"vote": 1})
        started = time.monotonic()
        crowd.start()
        time.sleep(seconds)
        crowd.stop()
        elapsed = time.monotonic() - started
        processes.stop()
        checked = audit(site, population, crowd.ledger)
        ledger = crowd.ledger
        return {
            "db": db, "workers": workers, "clients": clients, "seconds": round(elapsed, 1),
            "votes": ledger.votes, "votes_per_second": round(ledger.votes / elapsed, 1),
            "p50_ms": round(percentile(ledger.latencies, 0.5) * 1000, 1),
            "p95_ms": round(percentile(ledger.latencies, 0.95) * 1000, 1),
            "server_errors": ledger.server_errors, "unanswered": sum(ledger.failures.values()),
            "statuses": dict(ledger.statuses), "lost_votes": checked.lost_votes,
            "uncertain": checked.uncertain_votes, "counters_off": checked.counters_off,
        }  # fmt: skip
    finally:
        if processes:
            processes.close()
        if site:
            site.close()
        if database:
            pg_admin(postgres, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def report(result: dict) -> None:
    ok = not (result["server_errors"] or result["lost_votes"] or result["counters_off"])
    print(
        f"{result['db']:>8}: {result['workers']} processes, {result['clients']} clients, "
        f"{result['seconds']} s: {result['votes']:,} votes, {result['votes_per_second']} votes/s, "
        f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms"
    )
    print(
        f"          server errors {result['server_errors']}, unanswered {result['unanswered']}, "
        f"acknowledged votes lost {result['lost_votes']}, counters not equal to their sum "
        f"{result['counters_off']}, answers {result['statuses']}: {'PASS' if ok else 'FAIL'}"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        report(run(db, args.clients, args.seconds, workers=2 if db == "sqlite" else 4))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
