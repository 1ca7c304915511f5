"""Typo tolerance shared by the embedded backends: which spellings a mistyped word was
meant to be. The indexes hold stems (Porter's for English, Snowball's for German), so
candidates are compared as stems of the language searched."""

import re
import string

from whoosh.lang.porter import stem

TYPO_MIN_LETTERS = 5  # shorter words are too easily another word with one letter changed
WORD = re.compile(r"\w+")


def typo_candidates(text: str, stem=stem) -> dict[str, dict[str, str]]:
    """For each word of five letters or more: its stem -> {candidate stem: a spelling}."""
    candidates = {}
    for word in {w.lower() for w in WORD.findall(text) if len(w) >= TYPO_MIN_LETTERS}:
        spellings = {stem(spelling): spelling for spelling in one_typo_away(word)}
        spellings.pop(stem(word), None)
        candidates[stem(word)] = spellings
    return candidates


def one_typo_away(word: str):
    """The spellings a word with two letters swapped or one left out was meant to be.

    A one-edit fuzzy match on the stem is not enough: two swapped letters are two edits,
    and a typo often changes the stem ("attachmnts" stems to `attachmnt`, "attachments"
    to `attach`). People rarely get the first letter wrong, so it stays.
    """
    for i in range(1, len(word) - 1):
        yield word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    for i in range(1, len(word) + 1):
        for letter in string.ascii_lowercase:
            yield word[:i] + letter + word[i:]
