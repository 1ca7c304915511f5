"""Search benchmark: the search backends with 100,000 ideas, against raw SQLite FTS5 as a reference.

Builds (once, then reuses) a database under bench/results/ with bench/run.py's bulk
builder, rewrites the ideas' text with a product-feedback vocabulary, then, on a fresh
copy of it, reports:

  1. the time and disk size of a full index build through `portal.search.indexing.reindex_all()`;
  2. p50/p95 of `search_ideas()` for one-word, two-word, phrase, prefix and typo queries,
     and of `similar_ideas()` for new titles, in-process (highlights and facets included);
  3. the time from an idea's commit (`submit_idea`, commit, `apply_pending()`) until a
     search finds it;
  4. the one-word, two-word and phrase queries on a raw SQLite FTS5 table over the same
     rows, as a reference.

Sections 1 to 3 run for each SEARCH_BACKEND chosen with `--backend` (default: sqlite, then
whoosh, each on a fresh copy). It prints figures with the targets next to them and never
fails: exit status 0. Quick run: `.venv/bin/python bench/search.py --quick` (5,000 ideas).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: the bulk database builder and helpers)

from portal.extensions import db  # noqa: E402
from portal.markup import render_markdown  # noqa: E402
from portal.models import Board, Idea, User  # noqa: E402
from portal.operations.ideas import TITLE_MAX, submit_idea  # noqa: E402
from portal.search import SearchQuery, get_backend, search_ideas, similar_ideas  # noqa: E402
from portal.search.indexing import apply_pending, reindex_all  # noqa: E402
from portal.search.whoosh_backend import ANALYZER  # noqa: E402

RESULTS = run.RESULTS
ROOT = run.ROOT
SLUGS = [board[0] for board in run.BOARDS]
TARGETS = [
    # key, description, limit (ms)
    ("one", "one-word search p95 <= 50 ms", 50.0),
    ("two", "two-word search p95 <= 50 ms", 50.0),
    ("phrase", "phrase search p95 <= 200 ms", 200.0),
    ("similar", "similar ideas p95 <= 100 ms", 100.0),
    ("findable", "findable <= 1 s after commit (p95)", 1000.0),
    ("rebuild", "full rebuild < 3 minutes", 180_000.0),
]
KINDS = [
    ("one", "one word"),
    ("two", "two words"),
    ("phrase", "phrase"),
    ("prefix", "prefix"),
    ("typo", "typo"),
    ("similar", "similar ideas"),
]

# ----------------------------------------------------------------------------- vocabulary

# What customers ask for, most asked first: picked with a Zipf-like weight.
FEATURES = [
    "dark mode", "push notifications", "csv export", "calendar sync", "bulk edit",
    "custom fields", "email notifications", "single sign-on", "recurring tasks",
    "keyboard shortcuts", "offline mode", "two-factor authentication", "pdf export",
    "saved filters", "audit log", "time tracking", "custom dashboards", "due dates",
    "user permissions", "file attachments", "slack notifications", "google calendar",
    "gantt chart", "kanban board", "scheduled reports", "spreadsheet import",
    "invoice templates", "approval workflow", "automation rules", "version history",
    "markdown support", "guest access", "time zones", "read receipts", "comment mentions",
    "multi-currency support", "high contrast theme", "larger fonts", "home screen widgets",
    "face id login", "voice notes", "rich text editor", "undo button", "duplicate detection",
    "archive projects", "custom reports", "webhooks", "public api", "outlook calendar",
    "data retention settings", "project templates", "subtasks", "task dependencies",
    "priority labels", "color coding", "drag and drop", "batch delete", "sorting options",
    "weekly digest", "mobile signatures", "barcode scanning", "map view", "print layout",
]  # fmt: skip
AREAS = [
    "mobile app", "dashboard", "admin panel", "reports page", "task list", "inbox",
    "settings page", "project view", "calendar view", "web app", "desktop app", "timeline",
    "customer portal", "billing page", "team workspace", "search results", "activity feed",
]  # fmt: skip
OBJECTS = [
    "tasks", "projects", "invoices", "contacts", "comments", "attachments", "reports",
    "users", "teams", "tickets", "orders", "customers", "time entries", "expenses",
    "documents", "milestones", "notes", "labels",
]  # fmt: skip
INTEGRATIONS = [
    "Slack", "Jira", "Salesforce", "Zapier", "HubSpot", "GitHub", "Google Drive",
    "Microsoft Teams", "Dropbox", "QuickBooks", "Xero", "Zendesk", "Trello", "Outlook",
]  # fmt: skip
PLATFORMS = ["iPhone", "iPad", "Android", "Apple Watch", "Android tablets", "Chromebook"]
FORMATS = ["CSV", "Excel", "PDF", "JSON", "Google Sheets"]
ATTRIBUTES = ["date", "owner", "status", "tag", "customer", "priority", "team", "due date"]
EVENTS = [
    "a task is overdue", "someone mentions me", "a report is ready", "an invoice is paid",
    "a ticket is assigned to me", "a project changes status", "a comment is added",
    "an export finishes", "a customer replies",
]  # fmt: skip
VERBS = ["archive", "restore", "merge", "lock", "assign", "export", "import", "share"]
COMPETITORS = ["Trello", "Asana", "Notion", "Monday", "Basecamp", "ClickUp", "Airtable"]
TEAMS = ["sales", "support", "finance", "marketing", "engineering", "operations", "HR"]
WORKAROUNDS = [
    "copy everything into a spreadsheet by hand", "export the data and fix it in Excel",
    "check the {area} several times a day", "ask an admin to do it for us",
    "keep a separate list outside the app", "take screenshots and send them by email",
    "use a browser extension that breaks after every update",
]  # fmt: skip
GENERAL_TITLES = [
    "Add {feature} to the {area}", "{Feature} in the {area}", "Support {feature}",
    "{Feature} for {objects}", "Please add {feature}", "Better {feature}",
    "Option to turn off {feature}", "Export {objects} to {format}",
    "Allow bulk editing of {objects}", "Let admins {verb} {objects}",
    "Filter {objects} by {attribute}", "Show {objects} in the {area}",
    "Notify me when {event}", "Sort {objects} by {attribute}", "{Feature} and {feature2}",
    "Improve the {area}", "{Feature} per team",
]  # fmt: skip
INTEGRATION_TITLES = [
    "{integration} integration", "Sync {objects} with {integration}",
    "Send {feature} to {integration}", "Two-way sync with {integration}",
    "Import {objects} from {integration}", "{integration}: link {objects} to {objects2}",
    "Post to {integration} when {event}",
]  # fmt: skip
MOBILE_TITLES = [
    "{Feature} on {platform}", "{Feature} in the mobile app", "{platform} app: {feature}",
    "Offline access to {objects} on {platform}", "Push notifications when {event}",
    "{Feature} for {platform}",
]  # fmt: skip
SENTENCES = [
    "We use the {area} every day and {feature} is the thing we miss most.",
    "Right now we have to {workaround}, which takes {n} minutes every {period}.",
    "Our team of {people} people would use this daily.",
    "{competitor} already has this and our users keep asking why we don't.",
    "Ideally it would work for {objects} as well as {objects2}.",
    "It would also be great if {feature2} worked in the {area}.",
    "This matters most on {platform} when we are on the road.",
    "It would save us a lot of time when {event}.",
    "The current behaviour is confusing for new users.",
    "Without this we cannot roll the tool out to the whole {team} team.",
    "Please consider it for the next release!",
    "Is there any update on this?",
    "Thanks for a great product.",
    "We would even pay extra for {feature} in the {area}.",
    "Our {team} team asked for {feature} three times this month.",
]  # fmt: skip
STOP = {"the", "and", "for", "to", "in", "on", "of", "a", "an", "by", "with", "per", "off"}


def zipf(n: int, s: float = 0.9) -> list[float]:
    return [1 / (rank + 1) ** s for rank in range(n)]


class TextGenerator:
    """Titles and descriptions like those of a product-feedback portal, from a seeded rng."""

    feature_weights = zipf(len(FEATURES))

    def __init__(self, rng: random.Random):
        self.rng = rng

    def feature(self) -> str:
        return self.rng.choices(FEATURES, self.feature_weights)[0]

    def fill(self, template: str, feature: str) -> str:
        rng = self.rng
        objects = rng.sample(OBJECTS, 2)
        other = self.feature()
        values = {
            "feature": feature, "Feature": feature[0].upper() + feature[1:],
            "feature2": other, "area": rng.choice(AREAS), "objects": objects[0],
            "objects2": objects[1], "integration": rng.choice(INTEGRATIONS),
            "platform": rng.choice(PLATFORMS), "format": rng.choice(FORMATS),
            "attribute": rng.choice(ATTRIBUTES), "event": rng.choice(EVENTS),
            "verb": rng.choice(VERBS), "competitor": rng.choice(COMPETITORS),
            "team": rng.choice(TEAMS), "people": rng.choice((4, 12, 25, 40, 150, 800)),
            "n": rng.choice((5, 10, 15, 30, 45)), "period": rng.choice(("day", "week")),
        }  # fmt: skip
        values["workaround"] = rng.choice(WORKAROUNDS).format(area=values["area"])
        text = template.format(**values)
        return text[0].upper() + text[1:]

    def title(self, board: str) -> str:
        templates = {"integrations": INTEGRATION_TITLES, "mobile": MOBILE_TITLES}
        pool = templates.get(board, GENERAL_TITLES)
        if board != "features" and self.rng.random() < 0.3:
            pool = GENERAL_TITLES
        return self.fill(self.rng.choice(pool), self.feature())[:TITLE_MAX]

    def body(self, title: str) -> str:
        rng = self.rng
        feature = self.feature()
        sentences = [self.fill(s, feature) for s in rng.sample(SENTENCES, rng.randint(2, 5))]
        text = " ".join(sentences)
        if rng.random() < 0.3:  # some write a list
            reasons = [self.fill(s, feature).rstrip(".!?") for s in rng.sample(SENTENCES, 2)]
            text += "\n\n" + "\n".join(f"- {reason}" for reason in reasons)
        if rng.random() < 0.5:  # many repeat the title's words in the description
            text = f"{title}. {text}"
        return text


def content_words() -> list[str]:
    """The vocabulary's searchable words: what people type into the search box."""
    text = " ".join(FEATURES + AREAS + OBJECTS + INTEGRATIONS + PLATFORMS + FORMATS)
    words = {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3 and w not in STOP}
    return sorted(words)


# ----------------------------------------------------------------------------- database


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ideas", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 ideas")
    parser.add_argument("--queries", type=int, default=200, help="per query kind")
    parser.add_argument(
        "--seconds-per-kind", type=float, default=15.0, help="stop a query kind after this"
    )
    parser.add_argument("--findable", type=int, default=30, help="ideas posted and looked for")
    parser.add_argument(
        "--backend", choices=["sqlite", "whoosh", "both"], default="both",
        help="SEARCH_BACKEND to measure (both: one after the other, each on a fresh copy)",
    )  # fmt: skip
    parser.add_argument("--rebuild", action="store_true", help="rebuild the database")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.quick:
        args.ideas = 5_000
    return args


def ensure_database(args) -> tuple[Path, dict]:
    """The pristine database: run.py's builder (few votes), then product-feedback text."""
    instance = RESULTS / f"search-db-{args.ideas}-ideas"
    build_args = run.parse_args(
        ["--ideas", str(args.ideas), "--votes", str(2 * args.ideas), "--users", "500",
         "--seed", str(args.seed)] + ["--rebuild"] * args.rebuild
    )  # fmt: skip
    return instance, ensure_text_database(instance, build_args)


def ensure_text_database(instance: Path, build_args) -> dict:
    """run.py's bulk builder with build_args (run.parse_args), then every idea's text
    rewritten; made once, then reused (and upgraded) until build_args.rebuild."""
    marker = instance / "search-text.json"
    if marker.exists() and not build_args.rebuild:
        info = json.loads(marker.read_text())
        print(f"Reusing {instance.relative_to(ROOT)} (built in {info['build_seconds']} s)")
        run.upgrade(run.environment(instance))  # the latest migrations, if any are new
        return info
    print(f"Building {instance.relative_to(ROOT)}: {build_args.ideas:,} ideas, "
          f"{build_args.votes:,} votes", flush=True)  # fmt: skip
    started = time.perf_counter()
    info = run.build(build_args, run.environment(instance))
    rewrite_text(instance / "stimme.db", build_args.seed)
    info["build_seconds"] = round(time.perf_counter() - started, 1)
    marker.write_text(json.dumps(info))
    print(f"  built in {info['build_seconds']} s", flush=True)
    return info


def rewrite_text(path: Path, seed: int) -> None:
    """Give every idea a product-feedback title and description (run.py's are synthetic)."""
    generator = TextGenerator(random.Random(seed + 1))
    connection = sqlite3.connect(path)
    with connection:
        ideas = connection.execute(
            "SELECT idea.id, board.slug FROM idea JOIN board ON board.id = idea.board_id"
            " ORDER BY idea.id"
        ).fetchall()

        def rows():  # one at a time: a million ideas' text would not fit in memory at once
            for idea_id, board in ideas:
                title = generator.title(board)
                body = generator.body(title)
                yield title, body, render_markdown(body), idea_id

        connection.executemany("UPDATE idea SET title=?, body=?, body_html=? WHERE id=?", rows())
    connection.close()


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API (safe with a WAL file beside it)."""
    target.unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def prepare_work(args, pristine: Path) -> Path:
    """A fresh instance each run: a copy of the database and no index yet."""
    work = RESULTS / f"search-{args.ideas}-ideas"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    copy_database(pristine / "stimme.db", work / "stimme.db")
    return work


# ----------------------------------------------------------------------------- queries


@dataclass
class Timings:
    walls: list = field(default_factory=list)  # ms
    cpus: list = field(default_factory=list)  # ms
    totals: list = field(default_factory=list)  # hits per query
    fallbacks: int = 0
    found: dict = field(default_factory=dict)  # typo kind -> [queries, intended word shown]

    @property
    def p50(self) -> float:
        return run.percentile(self.walls, 0.5)

    @property
    def p95(self) -> float:
        return run.percentile(self.walls, 0.95)


def typo_of(word: str, rng: random.Random) -> tuple[str, str]:
    """One letter dropped or two neighbours swapped, never the first letter."""
    while True:
        i = rng.randrange(1, len(word) - 1)
        if rng.random() < 0.5:
            typo, kind = word[:i] + word[i + 1 :], "dropped"
        else:
            typo, kind = word[:i] + word[i + 1] + word[i] + word[i + 2 :], "swapped"
        if typo != word:
            return typo, kind


def make_queries(args, titles: list[str]) -> dict[str, list]:
    """Query texts per kind, from the vocabulary and from real titles."""
    rng = random.Random(args.seed + 2)
    words = content_words()
    long_words = [w for w in words if len(w) >= 5]
    n = args.queries
    two = []
    while len(two) < n:
        title_words = [w for w in re.findall(r"[a-z]+", rng.choice(titles).lower()) if w in words]
        if len(set(title_words)) >= 2:
            two.append(" ".join(rng.sample(sorted(set(title_words)), 2)))
    phrases = [f for f in FEATURES if " " in f and "-" not in f]
    typos = [(word, *typo_of(word, rng)) for word in (rng.choice(long_words) for _ in range(n))]
    generator = TextGenerator(random.Random(args.seed + 3))
    similar = []
    for _ in range(n):
        board = rng.choice(SLUGS)
        title = generator.title(board)
        if rng.random() < 0.5:  # still being typed: cut anywhere past a third
            title = title[: rng.randint(max(3, len(title) // 3), len(title))]
        similar.append((title, board))
    return {
        "one": [rng.choice(words) for _ in range(n)],
        "two": two,
        "phrase": [f'"{rng.choice(phrases)}"' for _ in range(n)],
        "prefix": [rng.choice(long_words)[: rng.randint(4, 6)] + "*" for _ in range(n)],
        "typo": typos,
        "similar": similar,
    }


MARKED = re.compile(r"<mark>(.*?)</mark>")


def stems(text: str) -> set[str]:
    return {token.text for token in ANALYZER(text)}


def run_search(text: str, timings: Timings, intended: str = "", typo: str = "") -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    result = search_ideas(SearchQuery(text=text, boards=SLUGS))
    timings.walls.append((time.perf_counter() - wall) * 1000)
    timings.cpus.append((time.process_time() - cpu) * 1000)
    timings.totals.append(result.total)
    timings.fallbacks += result.fallback
    if intended:
        marked = " ".join(MARKED.findall(" ".join(h.title + " " + h.snippet for h in result.hits)))
        counts = timings.found.setdefault(typo, [0, 0])
        counts[0] += 1
        counts[1] += bool(stems(intended) & stems(marked))


def measure_queries(args, queries: dict) -> dict[str, Timings]:
    # Warm up: the first search opens the index (about 60 ms) and fills caches.
    for kind in ("one", "two", "phrase", "prefix"):
        for text in queries[kind][:3]:
            search_ideas(SearchQuery(text=text, boards=SLUGS))
    similar_ideas("Dark mode for the mobile app", SLUGS)
    figures = {}
    for kind, label in KINDS:
        timings = Timings()
        deadline = time.perf_counter() + args.seconds_per_kind
        for item in queries[kind]:
            if kind == "typo":
                run_search(item[1], timings, intended=item[0], typo=item[2])
            elif kind == "similar":
                wall, cpu = time.perf_counter(), time.process_time()
                numbers = similar_ideas(item[0], [item[1]])
                timings.walls.append((time.perf_counter() - wall) * 1000)
                timings.cpus.append((time.process_time() - cpu) * 1000)
                timings.totals.append(len(numbers))
            else:
                run_search(item, timings)
            if time.perf_counter() > deadline:
                break
        figures[kind] = timings
        print(f"  {label:14} {len(timings.walls):4} queries  p50 {timings.p50:7.1f} ms  "
              f"p95 {timings.p95:7.1f} ms", flush=True)  # fmt: skip
    return figures


# ----------------------------------------------------------------------------- build, findable


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure_build() -> dict:
    """reindex_all() through the real code path, split into reading, indexing and catch-up."""
    backend = get_backend()
    reading = [0.0]
    rebuild = backend.rebuild

    def timed_documents(documents):
        iterator = iter(documents)
        while True:
            started = time.perf_counter()
            try:
                document = next(iterator)
            except StopIteration:
                reading[0] += time.perf_counter() - started
                return
            reading[0] += time.perf_counter() - started
            yield document

    phases = {}

    def timed_rebuild(documents):
        started = time.perf_counter()
        count = rebuild(timed_documents(documents))
        phases["rebuild"] = time.perf_counter() - started
        return count

    backend.rebuild = timed_rebuild  # on this instance only: measures, changes nothing
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        count = reindex_all()
    finally:
        del backend.rebuild
    total = time.perf_counter() - wall
    return {
        "count": count,
        "seconds": total,
        "cpu_seconds": time.process_time() - cpu,
        "reading": reading[0],
        "indexing": phases["rebuild"] - reading[0],
        "catch_up": total - phases["rebuild"],
        "bytes": index_bytes(backend),
    }


def index_bytes(backend) -> int:
    if hasattr(backend, "folder"):  # Whoosh: the live generation's files
        return folder_size(backend.folder / os.readlink(backend.current))
    pages = db.session.execute(  # FTS5: the pages of its shadow tables
        db.text("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'idea_fts%'")
    ).scalar()
    return pages or 0


def measure_findable(args) -> dict:
    """Post an idea, commit, apply the queued update, search until the new idea is found."""
    author = db.session.get(User, 3)
    # The operator's own test account: the brakes on new accounts (three ideas a day) would
    # stop the run at its fourth idea, as create-user's trusted accounts are never stopped.
    author.is_trusted = True
    boards = {board.slug: board for board in db.session.scalars(db.select(Board))}
    rng = random.Random(args.seed + 4)
    generator = TextGenerator(random.Random(args.seed + 5))
    samples, parts, missing = [], {"commit": [], "apply": [], "search": []}, 0
    for _ in range(args.findable):
        word = "qz" + "".join(rng.choice("bcdfghjklmnpqrstvwx") for _ in range(8)) + "k"
        board = boards[rng.choice(SLUGS)]
        title = generator.title(board.slug)
        idea = submit_idea(author, board, f"{title[:100]} {word}", generator.body(title))
        number = idea.number
        started = time.perf_counter()
        db.session.commit()
        committed = time.perf_counter()
        apply_pending()
        applied = time.perf_counter()
        found = False
        while time.perf_counter() - started < 5.0:
            result = search_ideas(SearchQuery(text=word, boards=SLUGS))
            if any(hit.number == number for hit in result.hits):
                found = True
                break
            time.sleep(0.01)
        done = time.perf_counter()
        if not found:
            missing += 1
        samples.append((done - started) * 1000)
        parts["commit"].append((committed - started) * 1000)
        parts["apply"].append((applied - committed) * 1000)
        parts["search"].append((done - applied) * 1000)
    return {"samples": samples, "parts": parts, "missing": missing}


# ----------------------------------------------------------------------------- FTS5


FTS_TOP = """
SELECT i.number, highlight(reference_fts, 0, '<mark>', '</mark>'),
       snippet(reference_fts, 1, '<mark>', '</mark>', ' … ', 24)
FROM reference_fts JOIN idea i ON i.id = reference_fts.rowid JOIN board b ON b.id = i.board_id
WHERE reference_fts MATCH ? AND b.slug IN ({slugs}) AND i.status != 'duplicate'
ORDER BY bm25(reference_fts, 3.0, 1.0) LIMIT 20
"""
FTS_FACETS = """
SELECT b.slug, i.status, count(*)
FROM reference_fts JOIN idea i ON i.id = reference_fts.rowid JOIN board b ON b.id = i.board_id
WHERE reference_fts MATCH ? AND b.slug IN ({slugs}) AND i.status != 'duplicate'
GROUP BY b.slug, i.status
"""


def fts_query(text: str) -> str:
    """The same search in FTS5 syntax: every word quoted (all must match), phrases kept."""
    if text.startswith('"'):
        return text
    return " ".join(f'"{word}"' for word in text.split())


def database_bytes(connection) -> int:
    (pages,) = connection.execute("PRAGMA page_count").fetchone()
    (page_size,) = connection.execute("PRAGMA page_size").fetchone()
    return pages * page_size


def measure_fts(args, pristine: Path, work: Path, queries: dict, counts: dict) -> dict:
    """An external-content FTS5 table over the same visible ideas, in a copy of the db;
    named apart from the app's own idea_fts, which the copy already has."""
    path = work / "fts.db"
    copy_database(pristine / "stimme.db", path)
    connection = sqlite3.connect(path)
    size_before = database_bytes(connection)
    started = time.perf_counter()
    with connection:
        connection.execute(
            "CREATE VIRTUAL TABLE reference_fts USING fts5(title, body, content='idea',"
            " content_rowid='id', tokenize='porter unicode61')"
        )
        connection.execute(
            "INSERT INTO reference_fts(rowid, title, body) SELECT id, title, body FROM idea"
            " WHERE NOT is_hidden AND NOT is_deleted AND NOT is_held"
        )
        connection.execute("INSERT INTO reference_fts(reference_fts) VALUES ('optimize')")
    build_seconds = time.perf_counter() - started
    size = database_bytes(connection) - size_before
    marks = ", ".join("?" for _ in SLUGS)
    top, facets = FTS_TOP.format(slugs=marks), FTS_FACETS.format(slugs=marks)
    for text in queries["one"][:3]:  # warm the page cache
        connection.execute(top, (fts_query(text), *SLUGS)).fetchall()
    figures = {}
    for kind in ("one", "two", "phrase"):
        timings = Timings()
        for text in queries[kind][: counts[kind]]:  # the queries the backend answered
            wall, cpu = time.perf_counter(), time.process_time()
            match = fts_query(text)
            connection.execute(top, (match, *SLUGS)).fetchall()
            groups = connection.execute(facets, (match, *SLUGS)).fetchall()
            timings.walls.append((time.perf_counter() - wall) * 1000)
            timings.cpus.append((time.process_time() - cpu) * 1000)
            timings.totals.append(sum(count for *_, count in groups))
        figures[kind] = timings
    connection.close()
    path.unlink()
    return {"build_seconds": build_seconds, "bytes": size, "figures": figures}


# ----------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def mean(values) -> float:
    return sum(values) / len(values) if values else float("nan")


def query_text(item) -> str:
    """Typo items are (word, typo, kind), similar ones (title, board)."""
    if isinstance(item, tuple):
        return item[1] if len(item) == 3 else item[0]
    return item


def report(args, name, build, figures, findable, fts, queries) -> None:
    print()
    print(
        f"Stimme search benchmark: {args.ideas:,} ideas, {build['count']:,} indexed "
        f"(hidden ones left out), SEARCH_BACKEND={name}, SQLite {sqlite3.sqlite_version}"
    )
    print(
        f"1. Full rebuild (reindex_all): {build['seconds']:.1f} s "
        f"(CPU {build['cpu_seconds']:.1f} s): reading ideas {build['reading']:.1f} s, "
        f"indexing and commit {build['indexing']:.1f} s, drift check and catch-up "
        f"{build['catch_up']:.1f} s; {build['count'] / build['seconds']:,.0f} ideas/s"
    )
    print(
        f"   index on disk: {build['bytes'] / 1e6:.1f} MB "
        f"({build['bytes'] / build['count']:,.0f} bytes per idea)"
    )
    print()
    print("2. search_ideas() in-process, all 3 boards, 20 a page, highlights and facets (ms)")
    print("   kind              n     p50     p95     max    CPU  mean hits  example")
    for kind, label in KINDS:
        t = figures[kind]
        example = repr(query_text(queries[kind][0]))
        print(
            f"   {label:14} {len(t.walls):4} {t.p50:7.1f} {t.p95:7.1f} {max(t.walls):7.1f} "
            f"{mean(t.cpus):6.1f} {mean(t.totals):10,.0f}  {example}"
        )
    print(
        "   typo queries whose highlights show the intended word: "
        + ", ".join(
            f"{found} of {n} with a letter {kind}"
            for kind, (n, found) in sorted(figures["typo"].found.items())
        )
    )
    fallbacks = sum(t.fallbacks for t in figures.values())
    if fallbacks:
        print(f"   WARNING: {fallbacks} searches fell back to SQL: the index did not answer")
    print()
    samples, parts = findable["samples"], findable["parts"]
    print(
        f"3. Findable after commit, {len(samples)} ideas: p50 {run.percentile(samples, 0.5):.1f}"
        f" ms, p95 {run.percentile(samples, 0.95):.1f} ms, max {max(samples):.1f} ms"
        f" (not found within 5 s: {findable['missing']})"
    )
    print(
        "   p50 of the parts: commit "
        + ", apply_pending ".join(
            f"{run.percentile(parts[p], 0.5):.1f} ms" for p in ("commit", "apply")
        )
        + f", search until found {run.percentile(parts['search'], 0.5):.1f} ms"
    )
    print()
    print(
        f"4. Raw SQLite FTS5 (external content, porter, bm25, snippet + facet counts) over "
        f"the same rows: built in {fts['build_seconds']:.1f} s, {fts['bytes'] / 1e6:.1f} MB"
    )
    print(f"   kind              n   raw p50     p95  hits  {name:>6} p50     p95  hits  ratio")
    for kind in ("one", "two", "phrase"):
        f, w = fts["figures"][kind], figures[kind]
        print(
            f"   {dict(KINDS)[kind]:14} {len(f.walls):4} {f.p50:9.1f} {f.p95:7.1f} "
            f"{mean(f.totals):5,.0f} {w.p50:11.1f} {w.p95:7.1f} {mean(w.totals):5,.0f}  "
            f"{w.p50 / f.p50:5.0f}x p50"
        )
    print()
    measured = {
        "one": figures["one"].p95,
        "two": figures["two"].p95,
        "phrase": figures["phrase"].p95,
        "similar": figures["similar"].p95,
        "findable": run.percentile(samples, 0.95) if not findable["missing"] else float("inf"),
        "rebuild": build["seconds"] * 1000,
    }
    print("Targets")
    for key, description, limit in TARGETS:
        value = measured[key]
        shown = f"{value / 1000:.1f} s" if key == "rebuild" else f"{value:.1f} ms"
        print(f"   {description:42} {shown:>10}  {verdict(value <= limit)}")


def measure_backend(args, name: str, pristine: Path):
    """Sections 1 to 3 for one backend, on a fresh copy of the database."""
    work = prepare_work(args, pristine)
    app = run.make_app(run.environment(work), SEARCH_BACKEND=name)
    with app.app_context():
        print(f"[{name}] 1. Building the index with reindex_all() ...", flush=True)
        build = measure_build()
        titles = db.session.scalars(db.select(Idea.title).limit(5000)).all()
        queries = make_queries(args, titles)
        print(f"[{name}] 2. Timing searches ...", flush=True)
        figures = measure_queries(args, queries)
        print(f"[{name}] 3. Posting ideas and looking for them ...", flush=True)
        findable = measure_findable(args)
        db.session.remove()
        db.engine.dispose()
    return work, build, figures, findable, queries


def main(argv=None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = run.load_average_before()
    pristine, _ = ensure_database(args)
    names = ["sqlite", "whoosh"] if args.backend == "both" else [args.backend]
    for name in names:
        work, build, figures, findable, queries = measure_backend(args, name, pristine)
        print("4. Raw SQLite FTS5 reference ...", flush=True)
        counts = {kind: len(timings.walls) for kind, timings in figures.items()}
        fts = measure_fts(args, pristine, work, queries, counts)
        report(args, name, build, figures, findable, fts, queries)
        print()
    print(
        f"Benchmark took {time.perf_counter() - started:.0f} s. Load average before and after: "
        f"{load_before:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(other busy processes raise every figure)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
