"""Does the time of an answer tell a known email from an unknown one? (issue 8, point 4)

Sign-in (a wrong password for a known address, any for an unknown one), sign-up and
password reset are asked in turn for a known and an unknown address, in process through
Flask's test client; the median and 90th percentile of each are printed with their
difference. The tests check that the answers are the same (tests/test_auth.py); this only
prints times, and always exits 0.

    .venv/bin/python bench/accounts.py                  # SQLite in a temporary folder
    .venv/bin/python bench/accounts.py --rounds 100
    .venv/bin/python bench/accounts.py --database-url postgresql://127.0.0.1:5432/bench
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.operations.accounts import register_user  # noqa: E402

PASSWORD = "correct horse battery"
KNOWN = "known@bench.example"


def build_app(folder: str, database_url: str | None):
    url = database_url or f"sqlite:///{folder}/accounts.db"
    app = create_app(
        {
            "ENV": {"PORTAL_ENV": "development"},
            "INSTANCE_PATH": folder,
            "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1),
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "MAIL_URL": f"file://{folder}/mail",
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        register_user(KNOWN, "Known Person", PASSWORD, verified=True)
        db.session.commit()
    return app


def timed(client, path: str, data: dict) -> float:
    started = time.perf_counter()
    response = client.post(path, data=data)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code in (303, 422), (path, response.status_code)
    return elapsed


def forms(round_number: int) -> dict[str, tuple[str, dict, dict]]:
    unknown = f"nobody{round_number}@bench.example"
    wrong = {"password": "not the password"}
    new = {"name": "Someone", "password": PASSWORD}
    return {
        "sign-in": ("/signin", {"email": KNOWN, **wrong}, {"email": unknown, **wrong}),
        "sign-up": ("/signup", {"email": KNOWN, **new}, {"email": unknown, **new}),
        "reset": ("/reset", {"email": KNOWN}, {"email": unknown}),
    }


def measure(app, rounds: int) -> dict[str, dict[str, list[float]]]:
    times = {name: {"known": [], "unknown": []} for name in forms(0)}
    client = app.test_client()
    for round_number in range(rounds + 3):
        for name, (path, known, unknown) in forms(round_number).items():
            # Alternate which goes first, so neither gains from a warm cache.
            pairs = [("known", known), ("unknown", unknown)]
            for kind, data in pairs if round_number % 2 else reversed(pairs):
                elapsed = timed(client, path, data)
                if round_number >= 3:  # the first rounds warm up templates and the pool
                    times[name][kind].append(elapsed)
    return times


def report(times, rounds: int, database: str) -> None:
    print(f"Known and unknown addresses, {rounds} requests each, {database} (ms)")
    print(f"{'form':<9} {'known p50':>10} {'unknown p50':>12} {'diff':>7}"
          f" {'known p90':>10} {'unknown p90':>12}")  # fmt: skip
    for name, kinds in times.items():
        p50 = {kind: statistics.median(values) for kind, values in kinds.items()}
        p90 = {kind: statistics.quantiles(values, n=10)[-1] for kind, values in kinds.items()}
        print(f"{name:<9} {p50['known']:>10.2f} {p50['unknown']:>12.2f}"
              f" {p50['known'] - p50['unknown']:>+7.2f}"
              f" {p90['known']:>10.2f} {p90['unknown']:>12.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60, help="requests per form and kind")
    parser.add_argument("--database-url", help="a PostgreSQL database to use (emptied!)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = build_app(folder, args.database_url)
        times = measure(app, args.rounds)
        report(times, args.rounds, "PostgreSQL" if args.database_url else "SQLite")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
