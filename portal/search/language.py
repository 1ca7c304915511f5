"""Which language an idea is written in, so search can stem its words that way.

A stop-word count, not a language detector: ideas are written in English or German, and
the short words every sentence needs tell those two apart. Text too short or too mixed
to tell keeps the fallback (the author's interface language, or the idea's language so
far). It needs nothing but Whoosh's stemmers, so a migration can use it too.
"""

import re

from whoosh.analysis import LanguageAnalyzer
from whoosh.lang.porter import stem as english_stem
from whoosh.lang.snowball.german import GermanStemmer

LANGUAGES = ("en", "de")
WORD = re.compile(r"\w+")
UMLAUT = re.compile(r"[äöüß]", re.IGNORECASE)
MIN_EVIDENCE = 2  # one function word may be a quotation or a product name
MAJORITY = 2  # the winning language needs twice the other's evidence

# Words that are common in one language and rare or absent in the other. Words both
# languages spell alike ("in", "was", "will", "also", "man", "so", "hat", "die") are left out.
_GERMAN = """
    aber alle allen auch auf aus bei beim bitte bis dann das dass daß dem den der des dies
    diese diesem diesen dieser dieses doch durch ein eine einem einen einer eines einfach
    es für gibt haben hier ich ihr ihre ist jetzt kann kein keine können könnte mehr mich
    mir mit möchte muss müssen nach nicht noch nur oder ohne schon sehr sein sich sie sind
    sollte über und uns unser unsere vom von vor wäre warum weil wenn werden wie wir wird
    würde zu zum zur zwischen
"""
_ENGLISH = """
    a about after all and any are as at be because been but by can could do does for from
    have how i if into is it its just more my need needs not of on only or our please
    should than that the their them there these they this those to us very we were
    what when where which while who why with would you your
"""
GERMAN_WORDS, ENGLISH_WORDS = frozenset(_GERMAN.split()), frozenset(_ENGLISH.split())

_german_stemmer = GermanStemmer()


def guess_language(text: str, fallback: str = "en") -> str:
    """ "de" or "en" for text, or fallback when there is too little to tell."""
    words = [word.lower() for word in WORD.findall(text or "")]
    german = sum(word in GERMAN_WORDS for word in words)
    english = sum(word in ENGLISH_WORDS for word in words)
    if UMLAUT.search(text or ""):
        german += 1  # a hint, not proof: names and loanwords carry them too
    if german >= MIN_EVIDENCE and german >= MAJORITY * english:
        return "de"
    if english >= MIN_EVIDENCE and english >= MAJORITY * german:
        return "en"
    return fallback if fallback in LANGUAGES else "en"


def german_stem(word: str) -> str:
    """The Snowball German stem of one lower-case word (umlauts folded: Häuser -> haus)."""
    return _german_stemmer.stem(word)


STEMMERS = {"en": english_stem, "de": german_stem}


GERMAN_ANALYZER = LanguageAnalyzer("de")  # lower case, German stop words, Snowball stems


def german_stems(text: str) -> str:
    """Text as its German stems, for indexes that cannot stem German themselves."""
    return " ".join(token.text for token in GERMAN_ANALYZER(text))
