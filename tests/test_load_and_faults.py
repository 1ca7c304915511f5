"""Load and faults against real server processes (issue 7, points 4 to 6), small and
bounded in time; bench/load.py and bench/faults.py run the same at full size and print
figures. Everything listens on 127.0.0.1.

On the PostgreSQL pass (TEST_DATABASE_URL set) the load and kill runs use a database of
their own on that server; the restart run always uses a private cluster, so restarting
it disturbs nobody.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import faults  # noqa: E402
import load  # noqa: E402
from harness import pg_admin, pg_url  # noqa: E402

pytestmark = pytest.mark.slow

POSTGRES = os.environ.get("TEST_DATABASE_URL", "").replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def database_url():
    """A new database for one run: SQLite (None), or one on the PostgreSQL under test."""
    if not POSTGRES:
        yield None
        return
    name = f"stimme_faults_test_{os.getpid()}"
    pg_admin(POSTGRES, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg_admin(POSTGRES, f"CREATE DATABASE {name}")
    yield pg_url(POSTGRES, name)
    pg_admin(POSTGRES, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_crowd_voting_and_unvoting_loses_nothing():
    db, workers = ("postgres", 4) if POSTGRES else ("sqlite", 2)
    result = load.run(db, clients=20, seconds=5, workers=workers, postgres=POSTGRES or None)
    assert result["votes"] > 100
    assert result["server_errors"] == 0 and result["unanswered"] == 0
    assert result["lost_votes"] == 0 and result["counters_off"] == 0


def test_killing_every_process_loses_no_acknowledged_write(database_url):
    backend = "postgres" if database_url else ""  # the production setting on PostgreSQL
    result = faults.kills(kills=3, clients=6, every=2.0, database_url=database_url,
                          search_backend=backend)  # fmt: skip
    assert result["ideas"] and result["votes"] and result["comments"]
    assert (result["lost_ideas"], result["lost_votes"], result["lost_comments"]) == (0, 0, 0)
    assert result["counters_off"] == 0 and result["server_errors"] == 0
    assert result["outbox_pending"] == 0, "the outbox did not drain"
    assert result["unfound"] == 0 and result["search_seconds"] <= 10


@pytest.mark.one_pass  # a private cluster, whichever pass
def test_a_postgresql_restart_gives_503s_and_the_app_recovers_by_itself():
    result = faults.postgres_restart(outage=3, clients=6, before=2, after=3)
    assert result["answers_503"] > 0 and result["retry_after"] == "5"
    assert result["server_errors"] == 0, result["first_traceback"]
    assert result["recovered_seconds"] is not None and result["ok_after_restart"] > 0
    assert result["lost_votes"] == 0 and result["counters_off"] == 0


@pytest.mark.one_pass  # a SQLite site of its own, whichever pass
def test_mail_queued_while_the_mail_server_is_down_arrives_once():
    result = faults.mail_down(outage=3, mails=20, within=60)
    assert result["arrived"] == 20 and result["duplicates"] == 0
