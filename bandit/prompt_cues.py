"""Keyword tables for the prompt classifier in :mod:`bandit.features`.

Data only, kept apart so the classifier's logic stays readable. Word cues are
matched against the set of distinct lowercase words of a message; phrase cues
with a substring test on its lowercase text. Weights are rough evidence
strengths: a phrase like "write a function" is near-certain (2.5), a generic
word like "function" is a hint (0.75).
"""

from __future__ import annotations

import re
import string

_W = dict[str, tuple[tuple[str, float], ...]]

# Words are what is left between punctuation and digits; str.translate plus
# split is several times faster than a word regex.
SEPARATORS = str.maketrans(dict.fromkeys(string.punctuation + string.digits + "’‘“”…", " "))


def _words(query_type: str, weight: float, words: str) -> dict[str, tuple[str, float]]:
    return {word: (query_type, weight) for word in words.split()}


def _merge(*tables: dict[str, tuple[str, float]]) -> _W:
    merged: dict[str, list[tuple[str, float]]] = {}
    for table in tables:
        for word, cue in table.items():
            merged.setdefault(word, []).append(cue)
    return {word: tuple(cue_list) for word, cue_list in merged.items()}


WORD_CUES: _W = _merge(
    _words(
        "code",
        1.5,
        "python javascript typescript golang rust sql regex traceback stacktrace refactor debug "
        "compile compiler compiles segfault bash powershell dockerfile kotlin haskell nodejs "
        "django flask react pytest unittest numpy pandas html css snippet",
    ),
    _words(
        "code",
        0.75,
        "function functions method class program script implement implementation algorithm "
        "code coding array arrays variable variables loop recursion recursive api endpoint "
        "syntax bug exception runtime string strings integer dictionary tuple return returns",
    ),
    _words(
        "math",
        1.0,
        "calculate compute solve equation equations integral derivative probability polynomial "
        "theorem proof prime primes divisible remainder fraction fractions percent percentage "
        "geometry triangle radius perimeter algebra calculus logarithm factorial arithmetic "
        "sqrt modulo quadratic matrix integers",
    ),
    _words(
        "math",
        0.5,
        "sum product average total ratio area angle digits number numbers convert miles "
        "kilometers km meters kilograms pounds celsius fahrenheit",
    ),
    _words(
        "analysis",
        1.0,
        "analyze analyse analysis compare comparison contrast evaluate assess implications "
        "tradeoffs critique pros cons advantages disadvantages explain discuss",
    ),
    _words(
        "analysis",
        0.5,
        "why which likely best describes explanation evidence effect cause causes "
        "factors difference differences impact reason",
    ),
    _words(
        "reasoning",
        1.5,
        "riddle puzzle syllogism deduce deduction commonsense paradox logic logical",
    ),
    _words(
        "creative",
        1.5,
        "story stories poem poems haiku limerick sonnet lyrics song fiction fictional "
        "screenplay fairytale rhyme rhymes verse slogan tagline joke jokes",
    ),
    _words(
        "creative",
        0.75,
        "imagine creative character characters plot narrative tale novel fantasy essay "
        "blog tweet caption dialogue brainstorm draft email letter rewrite rephrase paraphrase "
        "proofread",
    ),
    _words(
        "conversation",
        0.75,
        "hi hello hey thanks thank cheers bye morning evening chat feel favorite favourite",
    ),
    _words(
        "summarization",
        2.5,
        "summarize summarise summarizing summarising summary summarization tldr recap synopsis",
    ),
    _words("summarization", 1.0, "condense gist shorten abstract outline"),
    _words(
        "extraction",
        2.0,
        "extract classify classification categorize categorise sentiment entities ner",
    ),
    _words(
        "extraction",
        0.75,
        "category categories label labels tag tags parse json csv yaml fields spam intent keywords",
    ),
    _words("translation", 3.0, "translate translation translated translating traduire traducir"),
)

PHRASE_CUES: tuple[tuple[str, str, float], ...] = (
    ("write a function", "code", 3.5),
    ("write a python", "code", 3.5),
    ("write a program", "code", 2.5),
    ("write code", "code", 2.5),
    ("write a script", "code", 2.0),
    ("this code", "code", 1.5),
    ("the code", "code", 1.0),
    ("unit test", "code", 1.5),
    ("time complexity", "code", 1.0),
    ("error:", "code", 1.0),
    ("how much", "math", 0.5),
    ("how many", "math", 0.5),
    ("which of the following", "analysis", 1.5),
    ("most likely", "analysis", 0.5),
    ("pros and cons", "analysis", 1.5),
    ("explain why", "analysis", 1.0),
    ("what is the difference between", "analysis", 1.0),
    ("differences between", "analysis", 1.0),
    ("cover letter", "creative", 1.5),
    ("[asy]", "math", 3.0),
    ("fill in the blank", "reasoning", 2.0),
    ("write a story", "creative", 2.5),
    ("write a poem", "creative", 2.5),
    ("short story", "creative", 2.0),
    ("once upon a time", "creative", 2.0),
    ("how are you", "conversation", 1.5),
    ("what do you think", "conversation", 0.75),
    ("tl;dr", "summarization", 2.5),
    ("key points", "summarization", 1.0),
    ("main points", "summarization", 1.0),
    ("in a nutshell", "summarization", 1.5),
    ("named entit", "extraction", 2.0),
    ("positive or negative", "extraction", 2.0),
    ("in json", "extraction", 1.0),
    ("as json", "extraction", 1.0),
    ("which category", "extraction", 1.5),
    ("how do you say", "translation", 3.0),
    ("into english", "translation", 2.0),
    ("into french", "translation", 2.0),
    ("into spanish", "translation", 2.0),
    ("into german", "translation", 2.0),
    ("into chinese", "translation", 2.0),
    ("into japanese", "translation", 2.0),
    ("to english:", "translation", 1.5),
    ("in english?", "translation", 1.5),
)


def _by_first_word(
    phrases: tuple[tuple[str, str, float], ...],
) -> dict[str, tuple[tuple[str, str, float], ...]]:
    grouped: dict[str, list[tuple[str, str, float]]] = {}
    for cue in phrases:
        first = cue[0].translate(SEPARATORS).split()[0]
        grouped.setdefault(first, []).append(cue)
    return {first: tuple(group) for first, group in grouped.items()}


# A phrase can only occur if its first word does, so most substring tests are skipped.
PHRASES_BY_FIRST_WORD = _by_first_word(PHRASE_CUES)

# Spelled-out quantities count as numbers when spotting word problems.
NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
    "fifty hundred thousand million twice thrice half double triple dozen quarter".split()
)

BASE_COMPLEXITY: dict[str, float] = {
    "code": 0.4,
    "math": 0.4,
    "reasoning": 0.35,
    "analysis": 0.3,
    "creative": 0.25,
    "summarization": 0.2,
    "extraction": 0.15,
    "translation": 0.15,
    "conversation": 0.05,
}

HARD_WORDS = frozenset(
    "prove proof rigorous rigorously optimize optimise optimal derive complexity concurrency "
    "distributed asynchronous architecture tradeoffs constraints edge cases theorem "
    "nontrivial comprehensive".split()
)
HARD_PHRASES: tuple[str, ...] = ("step by step", "edge case", "in depth", "multi-step")
EASY_WORDS = frozenset("simple simply quick quickly brief briefly short concise".split())
DETAILED_WORDS = frozenset("detailed comprehensive thorough thoroughly elaborate".split())
SHORT_ANSWER_PHRASES: tuple[str, ...] = (
    "in one word",
    "single word",
    "one-word",
    "single choice",
    "only the letter",
    "letter of the correct",
    "yes or no",
    "just the answer",
    "only the answer",
    "just the number",
    "only the number",
    "without explanation",
    "no explanation",
)

BASE_OUTPUT: dict[str, float] = {
    "code": 400,
    "math": 300,
    "analysis": 350,
    "reasoning": 200,
    "creative": 600,
    "conversation": 120,
    "summarization": 250,
    "extraction": 120,
    "translation": 200,
}
LENGTH_UNITS = frozenset("word words sentence sentences paragraph paragraphs line lines".split())
LIST_VERBS = frozenset(
    "list give name suggest generate write provide create brainstorm top".split()
)
TOKENS_PER_UNIT: dict[str, float] = {
    "word": 1.4,
    "sentence": 25,
    "paragraph": 120,
    "line": 12,
}

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "a the and is are was were of to in on at by from as what how you your with for this "
        "that it an be or not can please write which why he she they his her their has have "
        "had did does do if than more many much each i we my me there about all but so just "
        "like some any would should could will its into our who when where".split()
    ),
    "es": frozenset(
        "el los las que y es por para una con del cómo qué está pero muy su se lo al como "
        "más yo tiene son".split()
    ),
    "fr": frozenset(
        "le les et est une des pour dans vous je pas que qui avec sur au du ce il elle sont "
        "mais comment nous".split()
    ),
    "de": frozenset(
        "der die das und ist nicht ich sie ein eine zu mit wie was auf für den dem des sich "
        "auch wir aber oder bitte".split()
    ),
}

# Script ranges checked in order; kana is tested before Han so Japanese text
# (which mixes both) is not taken for Chinese.
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("zh", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
)
_SCRIPT_SAMPLE = 2_000


def dominant_script(text: str) -> str | None:
    """The language of the non-Latin script that covers at least 20% of letters.

    Japanese needs kana to cover 10% of the CJK characters; Chinese text uses
    none.
    """
    sample = text[:_SCRIPT_SAMPLE]
    letters = sum(ch.isalpha() for ch in sample) or 1
    counts = {lang: len(pattern.findall(sample)) for lang, pattern in _SCRIPTS}
    if counts["ja"] and counts["ja"] >= 0.1 * (counts["ja"] + counts["zh"]):
        counts["ja"] += counts["zh"]
        counts["zh"] = 0
    lang = max(counts, key=lambda k: counts[k])
    return lang if counts[lang] >= 0.2 * letters else None
