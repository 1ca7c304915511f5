"""`make bench-scale`: how each figure of `make bench` grows at ten times the size.

Run by hand, never in CI: at its defaults (100,000 ideas and 1,000,000 votes, then
1,000,000 and 10,000,000) it took 71 minutes, 6 GB of disk and 4 GB of memory
(bench/README.md, "Ten times the size"). For each size it builds (once, then reuses) a
SQLite database with bench/run.py's builder and bench/search.py's product-feedback text,
copies its rows into a new PostgreSQL database, and measures:

  pages       SQL statements per request and p50/p95 of the board and idea pages, page
              cache off, so that every request renders its page (run.in_process);
  votes       p50/p95 of a vote, one client (run.votes_in_process; no gunicorn);
  search      p50/p95 of search_ideas() per query kind and of similar_ideas(), the same
              queries at both sizes, with FTS5 (SEARCH_BACKEND=sqlite) and PostgreSQL
              (SEARCH_BACKEND=postgres);
  rebuild     reindex_all() with FTS5; with Whoosh at the base size only, extrapolated;
  migrations  `flask db upgrade` from an empty database, and the newest revisions
              applied again to the populated one (downgraded first).

Then it prints one table: each figure at both sizes, how much it grew, how much its work
grew, and whether it grows faster than that work. It asserts nothing and exits 0.
Quick run: `.venv/bin/python bench/scale.py --base-ideas 2000 --base-votes 20000 --users 200`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: the bulk builder, pages and votes)
import search  # noqa: E402  (bench/search.py: product-feedback text, queries, index builds)

from portal.extensions import db  # noqa: E402
from portal.models import Idea  # noqa: E402

# The newest migrations are timed on the data from the revision before them:
# 3e6d9b2f8a14 guesses every idea's language, then rebuilds the search structures (the GIN
# index on PostgreSQL, an empty FTS5 table on SQLite); 6b2e9d4f1a37 re-encrypts two-factor
# secrets (the bench's people have none); 8f4a2c6e1d93 stores the search vector in a
# generated column and moves the GIN index onto it (PostgreSQL only: it rewrites the
# table). b7e2d4c61a09 adds the language column.
BEFORE_NEWEST = "b7e2d4c61a09"
NEWEST = "3e6d9b2f8a14 to 8f4a2c6e1d93"
TOLERANCE = 1.5  # a time may grow this much more than its work before it is named
PAGE = "a page of 20"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-ideas", type=int, default=100_000)
    parser.add_argument("--base-votes", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2_000, help="customers, at both sizes")
    parser.add_argument("--factor", type=int, default=10, help="the larger size / the base")
    parser.add_argument("--requests", type=int, default=200, help="per page and for votes")
    parser.add_argument("--queries", type=int, default=200, help="per query kind")
    parser.add_argument(
        "--seconds-per-kind", type=float, default=30.0, help="stop a query kind after this"
    )
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a database on the server to make stimme_scale_* in ('' for SQLite only)",
    )  # fmt: skip
    parser.add_argument("--rebuild", action="store_true", help="rebuild the SQLite databases")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--build-only", action="store_true",
        help="build both SQLite databases and stop (the long part; needs no quiet machine)",
    )  # fmt: skip
    return parser.parse_args(argv)


@dataclass
class Figure:
    """One line of the table: values (a p50/p95 pair, say) and the work behind them."""

    label: str
    values: tuple[float, ...]
    work: float  # how much there is to do (rows, matches, 1 for a page), compared across sizes
    work_label: str
    cpu: float | None = None  # mean CPU time in this process: judged instead, where given
    exact: bool = False  # counts: any growth at all is more than the work's
    extrapolated: bool = False


# ----------------------------------------------------------------------------- measuring


def build_size(args, ideas: int, votes: int) -> tuple[Path, dict]:
    """The SQLite database of one size, built once with its text, then reused."""
    build_args = run.parse_args(
        ["--ideas", str(ideas), "--votes", str(votes), "--users", str(args.users),
         "--seed", str(args.seed)] + ["--rebuild"] * args.rebuild
    )  # fmt: skip
    instance = run.RESULTS / f"scale-db-{ideas}-ideas-{build_args.votes}-votes-{args.users}-users"
    return instance, search.ensure_text_database(instance, build_args)


def measure_size(args, ideas: int, votes: int, base: bool) -> dict[str, Figure]:
    instance, info = build_size(args, ideas, votes)
    env = run.environment(instance)
    size = f"[{ideas:,} ideas]"
    make_version_rows(env)
    print(f"{size} pages and votes in-process (page cache off) ...", flush=True)
    figures = page_figures(run.in_process(args, env, info, PAGE_CACHE_SECONDS=0), info, args)
    print(f"{size} FTS5: rebuild and searches ...", flush=True)
    figures["rebuild FTS5"] = rebuild_figure(env, "sqlite", "FTS5")
    print(f"  {instance.relative_to(run.ROOT)}: {megabytes(instance / 'stimme.db')} with FTS5")
    queries, sqlite_search = search_figures(args, env, "sqlite", "FTS5", ideas)
    figures |= sqlite_search
    if base:
        print(f"{size} Whoosh: rebuild ...", flush=True)
        shutil.rmtree(instance / "search", ignore_errors=True)
        figures["rebuild Whoosh"] = rebuild_figure(env, "whoosh", "Whoosh")
        shutil.rmtree(instance / "search", ignore_errors=True)
    print(f"{size} migrations on SQLite ...", flush=True)
    figures |= migration_figures(env, "SQLite", ideas)
    if args.postgres:
        figures |= postgres_figures(args, instance, queries, ideas)
    return figures


def page_figures(measured: dict, info: dict, args) -> dict[str, Figure]:
    """Statements (visitor / signed in) and p50 / p95 of each page, and of a vote."""
    figures = {}
    votes_each = info["votes"] / args.users  # the signed-in person is the busiest customer
    for name, _ in run.PAGES:
        counts = tuple(measured["sql"][(name, who, 20)] for who in ("visitor", "customer"))
        figures[f"sql {name}"] = Figure(f"statements: {name}", counts, 1, PAGE, exact=True)
        for who, shown in (("visitor", "visitor"), ("customer", "signed in")):
            p50, p95, cpu = measured["time"][(name, who)]
            work, work_label = 1, PAGE
            if name == "budget board" and who == "customer":  # votes_left() reads their votes
                work, work_label = votes_each, "votes per person"
            label = f"{name}, {shown} (ms)"
            figures[f"{name} {who}"] = Figure(label, (p50, p95), work, work_label, cpu)
    vote = measured["vote"]
    pair = (vote["p50"], vote["p95"])
    figures["vote"] = Figure("vote, one client (ms)", pair, 1, "one idea", vote["cpu"])
    return figures


def make_version_rows(env: dict) -> None:
    """Makes the page cache's version rows, with one visitor's request with the cache on.
    With it off, a request first asks for the versions inside its own transaction, where
    they are not made, and every request reads the configuration again (3 statements)."""
    app = run.make_app(env)
    app.test_client().get("/")
    with app.app_context():
        db.engine.dispose()


def megabytes(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:,.0f} MB"


def rebuild_figure(env: dict, backend: str, name: str) -> Figure:
    """reindex_all(): wall and CPU seconds."""
    app = run.make_app(env, SEARCH_BACKEND=backend)
    with app.app_context():
        build = search.measure_build()
        db.session.remove()
        db.engine.dispose()
    seconds = (build["seconds"],)
    return Figure(f"rebuild, {name} (s)", seconds, build["count"], "rows", build["cpu_seconds"])


def search_figures(args, env, backend: str, name: str, ideas: int, queries=None):
    """p50 / p95 per query kind; returns the queries, made from the first --base-ideas
    titles, so that both sizes ask the same. The CPU time is judged for FTS5 only: the
    PostgreSQL server's work is not this process's."""
    app = run.make_app(env, SEARCH_BACKEND=backend)
    figures = {}
    with app.app_context():
        if queries is None:
            limit = min(args.base_ideas, 5000)
            titles = db.session.scalars(db.select(Idea.title).order_by(Idea.id).limit(limit))
            queries = search.make_queries(args, titles.all())
        for kind, timings in search.measure_queries(args, queries).items():
            label = f"{name}: {dict(search.KINDS)[kind]} (ms)"
            work, work_label = search.mean(timings.totals), "matches"
            if kind == "similar":  # five numbers, ranked among every idea that shares a word
                work, work_label = ideas, "rows"
            pair = (timings.p50, timings.p95)
            cpu = search.mean(timings.cpus) if backend == "sqlite" else None
            figures[f"{name} {kind}"] = Figure(label, pair, work, work_label, cpu)
        db.session.remove()
        db.engine.dispose()
    return queries, figures


def migration_figures(env: dict, name: str, ideas: int, empty: float | None = None) -> dict:
    """`flask db upgrade` of an empty database (unless timed already), and of the newest
    revisions on this one, in place: it ends at the newest revision, as it began."""
    if empty is None:
        scratch = run.environment(Path(env["PORTAL_INSTANCE_PATH"]).with_name("scale-empty"))
        shutil.rmtree(scratch["PORTAL_INSTANCE_PATH"], ignore_errors=True)
        empty = seconds_of(run.flask_db, scratch, "upgrade")
        shutil.rmtree(scratch["PORTAL_INSTANCE_PATH"])
    run.flask_db(env, "downgrade", BEFORE_NEWEST)
    newest = seconds_of(run.flask_db, env, "upgrade")
    return {
        f"empty {name}": Figure(f"migrations from empty, {name} (s)", (empty,), 1, "no rows"),
        f"newest {name}": Figure(f"{NEWEST}, {name} (s)", (newest,), ideas, "rows"),
    }


def seconds_of(function, *arguments) -> float:
    started = time.perf_counter()
    function(*arguments)
    return time.perf_counter() - started


# ----------------------------------------------------------------------------- PostgreSQL


def postgres_figures(args, instance: Path, queries: dict, ideas: int) -> dict[str, Figure]:
    """A new database with the SQLite one's rows: search and migrations; dropped after."""
    name = f"stimme_scale_{ideas}"
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    env = run.environment(instance) | {"DATABASE_URL": url}
    try:
        server = psycopg.connect(args.postgres, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        print(f"PostgreSQL not reachable ({error}): its figures are left out")
        return {}
    try:
        server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        server.execute(f"CREATE DATABASE {name}")
        print(f"[{ideas:,} ideas] PostgreSQL: migrations from empty, COPY ...", flush=True)
        empty = seconds_of(run.flask_db, env, "upgrade")
        seconds = seconds_of(copy_rows, instance / "stimme.db", url)
        (size,) = server.execute(f"SELECT pg_database_size('{name}')").fetchone()
        print(f"  rows copied in {seconds:.1f} s; {name}: {size / 1e6:,.0f} MB")
        print(f"[{ideas:,} ideas] PostgreSQL: searches ...", flush=True)
        _, figures = search_figures(args, env, "postgres", "PostgreSQL", ideas, queries)
        print(f"[{ideas:,} ideas] PostgreSQL: migrations on the data ...", flush=True)
        return figures | migration_figures(env, "PostgreSQL", ideas, empty)
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        server.close()


def copy_rows(sqlite_path: Path, url: str) -> None:
    """Every row of the SQLite database into the PostgreSQL one, made by the same
    migrations, with COPY; then VACUUM ANALYZE, as autovacuum would have by then.

    Foreign keys are not checked while copying (session_replication_role): they held in
    SQLite, and the tables need no order. SQLite's 0/1 and its timestamps' text are what
    PostgreSQL reads for booleans and timestamps."""
    source = sqlite3.connect(sqlite_path)
    with psycopg.connect(url) as target:
        target.execute("SET session_replication_role = replica")
        tables = [name for (name,) in target.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'")]  # fmt: skip
        target.execute("TRUNCATE " + ", ".join(f'"{table}"' for table in tables))
        for table in tables:
            columns = ", ".join(
                f'"{row[1]}"' for row in source.execute(f'PRAGMA table_info("{table}")')
            )
            with target.cursor().copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
                for row in source.execute(f'SELECT {columns} FROM "{table}"'):
                    copy.write_row(row)
            if '"id"' in columns:  # the next id the app inserts comes after the copied ones
                target.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), max(id))"
                    f' FROM "{table}"'
                )
    source.close()
    with psycopg.connect(url, autocommit=True) as target:
        target.execute("VACUUM ANALYZE")


# ----------------------------------------------------------------------------- report


def number(value: float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:  # nan: nothing measured
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def judge(base: Figure, large: Figure) -> tuple[float, float, str]:
    """The figure's growth, its work's growth and the verdict. The CPU time is judged where
    there is one; else a count on its largest growth and a p50/p95 pair on the smaller, so
    that one noisy percentile does not decide."""
    if base.cpu and large.cpu is not None:
        growth = large.cpu / base.cpu
    else:
        pairs = zip(base.values, large.values, strict=True)
        growths = [value / was if was else float("nan") for was, value in pairs]
        growth = max(growths) if base.exact else min(growths)
    work = large.work / base.work if base.work else float("nan")
    if large.extrapolated:
        return growth, work, "extrapolated, not measured"
    faster = growth > work * (1 if base.exact else TOLERANCE)
    return growth, work, "grows faster than its work" if faster else "grows with its work"


def cell(figure: Figure) -> str:
    shown = " / ".join(number(value) for value in figure.values)
    return shown if figure.cpu is None else f"{shown} ({number(figure.cpu)})"


def report(args, sizes, measured) -> None:
    base, large = measured
    if "rebuild Whoosh" in base:
        whoosh, growth = base["rebuild Whoosh"], sizes[1][0] / sizes[0][0]
        large["rebuild Whoosh"] = Figure(
            whoosh.label, (whoosh.values[0] * growth,), whoosh.work * growth, "rows",
            whoosh.cpu * growth, extrapolated=True,
        )  # fmt: skip
    heads = [f"{ideas:,} ideas" for ideas, _ in sizes]
    line = "-" * 133
    print(f"\n{line}\nStimme at {args.factor} times the size: {sizes[0][0]:,} ideas, "
          f"{sizes[0][1]:,} votes, then {sizes[1][0]:,} and {sizes[1][1]:,}; "
          f"{args.users:,} customers at both. All in-process.")  # fmt: skip
    print("A time is p50 / p95 (wall), then in brackets the mean CPU time it took in this "
          "process: where shown, that is judged,\nas other processes on the machine barely "
          "move it. Statements: visitor / signed in. A time is named when it grows\nmore than "
          f"{TOLERANCE}x its work's growth, a count when it grows at all.")  # fmt: skip
    print(line)
    print(f"{'figure':<44}{heads[0]:>20}{heads[1]:>20}{'growth':>9}  {'work':<25}verdict")
    print(line)
    for key, figure in base.items():
        if key not in large:
            continue
        growth, work, verdict = judge(figure, large[key])
        work_cell = f"x{number(work)} {figure.work_label}"
        print(f"{figure.label:<44}{cell(figure):>20}{cell(large[key]):>20}"
              f"{'x' + number(growth):>9}  {work_cell:<25}{verdict}")  # fmt: skip
    print(line)
    if args.base_ideas < 2_200:  # /b/features holds about 48 % of the ideas on its pages
        print("board ?page=50 at the base size: /b/features has fewer than 1,000 ideas to show,"
              " so page 50 is empty there\n(no cards, no query for the person's votes): it"
              " grows because it fills, not because the database grew.")  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    run.RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = run.load_average_before()
    sizes = [(args.base_ideas, args.base_votes),
             (args.base_ideas * args.factor, args.base_votes * args.factor)]  # fmt: skip
    if args.build_only:
        for ideas, votes in sizes:
            build_size(args, ideas, votes)
        print(f"Built in {time.perf_counter() - started:.0f} s; measure on a quiet machine.")
        return 0
    measured = [measure_size(args, ideas, votes, n == 0) for n, (ideas, votes) in enumerate(sizes)]
    report(args, sizes, measured)
    print(
        f"Took {time.perf_counter() - started:.0f} s. Load average before and after: "
        f"{load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(other busy processes raise every time)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
