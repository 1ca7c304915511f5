"""Similar ideas: how well the similarity threshold tells duplicates from ideas that only
share a word, measured on a labelled set of pairs, and how long a look takes.

Builds a fresh SQLite database in a temporary folder with every demo title
(portal/demo/topics.py) as an idea, plus the existing titles of bench/data/similar_pairs.csv
that are not demo titles (the German ones), then, for each pair (new title, existing
title, duplicate 1/0), scores the existing idea the way the new-idea form does
(`scored_similar_ideas`, the backend's candidates scored by `portal.search.similarity`).
Prints precision and recall of "stops the post" at several thresholds (the chosen one
marked) and p50/p95 of a look. Never fails: exit status 0.
`.venv/bin/python bench/similar.py [--backend sqlite|whoosh]`
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.demo.boards import BOARDS  # noqa: E402
from portal.demo.topics import TOPICS  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Board, Role, User, utcnow  # noqa: E402
from portal.operations.ideas import submit_idea  # noqa: E402
from portal.search import get_backend, scored_similar_ideas, similarity  # noqa: E402
from portal.search.indexing import apply_pending  # noqa: E402

PAIRS = Path(__file__).resolve().parent / "data" / "similar_pairs.csv"
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def load_pairs() -> list[dict]:
    with PAIRS.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def seed(pairs: list[dict]) -> dict[str, int]:
    """Every demo title and every extra existing title as an idea; title -> number."""
    boards = {}
    for spec in BOARDS:
        boards[spec.slug] = Board(slug=spec.slug, name=spec.name, description=spec.description)
        db.session.add(boards[spec.slug])
    db.session.flush()
    titles = {title: topic.board for topic in TOPICS for title in topic.titles}
    for pair in pairs:
        titles.setdefault(pair["existing_title"], BOARDS[0].slug)
    numbers = {}
    for n, (title, slug) in enumerate(titles.items()):
        author = User(
            email=f"bench{n}@example.com",
            name=f"Bench {n}",
            password_hash="!",
            email_verified_at=utcnow(),
            created_at=utcnow() - timedelta(days=2),
        )
        author.role = Role.CUSTOMER  # one idea each: past the pace limit for new posters
        db.session.add(author)
        numbers[title] = submit_idea(author, boards[slug], title, "").number
    db.session.commit()
    apply_pending()
    return numbers


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def measure(pairs: list[dict], numbers: dict[str, int]) -> tuple[list, list[float]]:
    slugs = [spec.slug for spec in BOARDS]
    scored, timings = [], []
    for pair in pairs:
        start = time.perf_counter()
        found = dict(scored_similar_ideas(pair["new_title"], slugs, limit=20))
        timings.append((time.perf_counter() - start) * 1000)
        value = found.get(numbers[pair["existing_title"]], 0.0)
        scored.append((pair, value))
    return scored, timings


def report(scored: list, timings: list[float], backend: str) -> None:
    duplicates = sum(pair["duplicate"] == "1" for pair, _ in scored)
    print(f"Similar ideas on {backend}: {len(scored)} labelled pairs, {duplicates} duplicates")
    print(f"{'threshold':>10} {'precision':>10} {'recall':>7} {'stops':>6} {'wrong stops':>12}")
    for threshold in THRESHOLDS:
        stops = [(pair, value) for pair, value in scored if value >= threshold]
        right = sum(pair["duplicate"] == "1" for pair, _ in stops)
        precision = right / len(stops) if stops else 1.0
        recall = right / duplicates if duplicates else 1.0
        mark = "  <- STRONG" if math.isclose(threshold, similarity.STRONG) else ""
        print(
            f"{threshold:>10.2f} {precision:>10.2f} {recall:>7.2f} {len(stops):>6}"
            f" {len(stops) - right:>12}{mark}"
        )
    print("\nPairs the chosen threshold gets wrong:")
    for pair, value in scored:
        stops = value >= similarity.STRONG
        if stops != (pair["duplicate"] == "1"):
            kind = "stops, not a duplicate" if stops else "a duplicate let through"
            print(f"  {value:.2f} {kind}: {pair['new_title']!r} ~ {pair['existing_title']!r}")
    print(
        f"\nA look (candidates from the backend, scored): p50 {percentile(timings, 0.5):.1f} ms,"
        f" p95 {percentile(timings, 0.95):.1f} ms"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "whoosh"))
    args = parser.parse_args(argv)
    pairs = load_pairs()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "ENV": {"PORTAL_ENV": "development", "RATELIMIT_ENABLED": "0"},
                "INSTANCE_PATH": folder,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/similar.db",
                "SEARCH_BACKEND": args.backend,
                "SEARCH_INDEX_DIR": f"{folder}/search",
                "MAIL_URL": f"file://{folder}/mail",
            }
        )
        with app.app_context():
            db.create_all()
            get_backend().rebuild([])
            numbers = seed(pairs)
            scored_similar_ideas("warm up", [BOARDS[0].slug])
            scored, timings = measure(pairs, numbers)
            report(scored, timings, args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
