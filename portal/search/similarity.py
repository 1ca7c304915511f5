"""How alike a new idea's title is to existing ideas' titles: the cosine of their TF-IDF
vectors, over stems, with the common words of English and German left out.

Every backend only finds candidates (ideas sharing a word or a near spelling); this module
scores them, so the three backends stop a post for the same ideas. The document
frequencies come from the titles of the newest public ideas, kept per process and counted
again when an idea is added (about 30 ms for 5,000 titles) or after REFRESH seconds.
Threshold and figures: docs/decisions/0021-similar-ideas.md, bench/similar.py.
"""

import math
import re
import time
from collections import Counter
from functools import lru_cache

from flask import current_app
from sqlalchemy import func

from portal.extensions import db
from portal.models import Idea
from portal.search.language import ENGLISH_WORDS, GERMAN_WORDS, STEMMERS

# The best score at or above STRONG stops a post ("vote for one, or post yours anyway");
# below SUGGEST a candidate is not shown at all (it shares only a stop word or a typo).
# Measured on bench/data/similar_pairs.csv: see docs/decisions/0021-similar-ideas.md.
STRONG = 0.45
SUGGEST = 0.15
SAMPLE = 5000  # the newest public titles the document frequencies are counted on
REFRESH = 600  # seconds: edits, hides and deletions reach the frequencies by then

WORD = re.compile(r"[^\W\d_]{2,}")  # words of letters, two or more
_MORE_ENGLISH = """
    am an another anyone anything also always both each either else every everyone
    everything get got has he her here him his ie its let lets like make many me might
    most much must new no nor now off one other own per same she so some such then there
    thing things too two up use using via want was way well will within without yet
    add allow able option feature possible please support enable
"""
_MORE_GERMAN = """
    alles am an andere anderen beim bzw damit da dabei darf davon dem denn deren dessen dort
    du ein einige er es etwa etwas euch hat hatte im in ins ja jede jedem jeden jeder jedes
    man manche mal neu neue neuen neuer ob sei seit so soll sollen statt um viel viele was
    welche weiter wo zusätzlich möglich möglichkeit funktion hinzufügen unterstützung
"""
STOP_WORDS = ENGLISH_WORDS | GERMAN_WORDS | frozenset((_MORE_ENGLISH + _MORE_GERMAN).split())


@lru_cache(maxsize=50_000)
def _stem(word: str, language: str) -> str:
    return STEMMERS[language](word)


def terms(text: str, language: str) -> list[str]:
    """The stems of text's words that carry meaning, in the given language ("en", "de")."""
    words = (word.lower() for word in WORD.findall(text or ""))
    return [_stem(word, language) for word in words if word not in STOP_WORDS]


class Frequencies:
    """In how many of `documents` titles each stem occurs."""

    def __init__(self, titles: list[str]):
        self.documents = len(titles)
        self.counts = Counter(
            stem for title in titles for stem in set(terms(title, "en") + terms(title, "de"))
        )

    def idf(self, stem: str) -> float:
        """Smoothed inverse document frequency: rare stems weigh more, none weighs 0."""
        return math.log((1 + self.documents) / (1 + self.counts[stem])) + 1


def vector(stems: list[str], frequencies: Frequencies) -> dict[str, float]:
    counts = Counter(stems)
    return {stem: n * frequencies.idf(stem) for stem, n in counts.items()}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(weight * b[stem] for stem, weight in a.items() if stem in b)
    if not dot:
        return 0.0
    norms = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norms


def score(title: str, others: list[str], frequencies: Frequencies) -> list[float]:
    """The similarity (0 to 1) of title to each of others. Titles are too short to tell
    their language (an idea's stored one comes from its body too): both are stemmed both
    ways, and each pair keeps the better score."""
    scores = [0.0] * len(others)
    for language in STEMMERS:
        mine = vector(terms(title, language), frequencies)
        for place, other in enumerate(others):
            theirs = vector(terms(other, language), frequencies)
            scores[place] = max(scores[place], cosine(mine, theirs))
    return scores


def current_frequencies() -> Frequencies:
    """This process's document frequencies, counted again once a new idea exists (its id
    is past the newest counted) or REFRESH seconds have passed."""
    newest = db.session.scalar(db.select(func.max(Idea.id))) or 0
    cached = current_app.extensions.get("similar_frequencies")
    if cached and cached[0] == newest and time.monotonic() - cached[1] < REFRESH:
        return cached[2]
    titles = db.session.scalars(
        db.select(Idea.title).where(Idea.public_clause()).order_by(Idea.id.desc()).limit(SAMPLE)
    ).all()
    frequencies = Frequencies(list(titles))
    current_app.extensions["similar_frequencies"] = (newest, time.monotonic(), frequencies)
    return frequencies


def forget_frequencies() -> None:
    """Count the frequencies again on the next call (tests empty the tables between them)."""
    current_app.extensions.pop("similar_frequencies", None)


def rank(title: str, numbers: list[int]) -> list[tuple[int, float]]:
    """The candidates (idea numbers) as (number, score), best first, those below SUGGEST
    left out."""
    if not numbers:
        return []
    found = db.session.execute(
        db.select(Idea.number, Idea.title).where(Idea.number.in_(numbers))
    ).all()
    scores = score(title, [other for _, other in found], current_frequencies())
    order = {number: place for place, number in enumerate(numbers)}  # ties: the backend's
    ranked = sorted(
        zip((n for n, _ in found), scores, strict=True),
        key=lambda pair: (-pair[1], order[pair[0]]),
    )
    return [(number, value) for number, value in ranked if value >= SUGGEST]
