"""Local prompt classifier: chat messages in, :class:`PromptFeatures` out.

The router needs a cheap description of each request before it picks a model:
what kind of task it is, how hard it looks, how long the input is and how long
the answer will probably be. Everything here is a deterministic function of the
message text (keyword sets, a few precompiled regexes, no model, no network),
and no text leaves this module: only the numbers and labels in
:class:`~bandit.types.PromptFeatures`.

How the query type is chosen:

* The last user message is the main evidence; the system prompt counts
  ``_SYSTEM_WEIGHT`` and the previous user turn ``_HISTORY_WEIGHT`` of it.
* Each text adds a score per type from distinct cue words (presence, not
  frequency, so few-shot prompts that repeat an instruction are not
  over-counted), cue phrases, and structure: code lines, LaTeX, numbers with
  "how many", lettered answer options, a fill-in blank (``_``).
* The best type wins if it reaches ``_MIN_SCORE``; otherwise the request is
  ``conversation``. Ties go to the earlier type in ``QUERY_TYPES``.

Cost is bounded: very long messages are scanned through a head and a tail
window (``_HEAD_CHARS`` + ``_TAIL_CHARS``), where instructions usually sit;
only cheap C-level counts (``str.count``, ``len``) see the whole text.

Example:
    >>> from providers.base import Message
    >>> f = extract_features([Message("user", "Write a python function to reverse a list.")])
    >>> (f.query_type, f.language)
    ('code', 'en')
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bandit import prompt_cues as cues
from bandit.types import PromptFeatures
from providers.base import Message
from providers.catalog import QUERY_TYPES

_HEAD_CHARS = 1_500
_TAIL_CHARS = 1_000
_HISTORY_CHARS = 1_000
_SYSTEM_WEIGHT = 0.5
_HISTORY_WEIGHT = 0.25
_MIN_SCORE = 1.0
_TOKENS_PER_MESSAGE = 4
_MAX_EXPECTED_OUTPUT = 8_192
_SUMMARY_INPUT_TOKENS = 200

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_OTHER_NON_ASCII = re.compile(r"[^\x00-\x7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# Line patterns start with a literal newline (the scanned text is prefixed with
# one) so the regex engine can skip ahead instead of trying every position.
_CODE_LINE = re.compile(
    r"\n[ \t]*(?:def |class |import |from [\w.]+ import |return\b|#include|public |private |"
    r"fn |func |function\b|const |let |var |print\(|console\.|SELECT |assert )"
)
_CODE_LINE_END = re.compile(r"[{};][ \t]*\n")
_CODE_TAG = re.compile(r"\[/(?:PYTHON|CODE|JAVA|CPP|JS|SQL)\]|</code>", re.IGNORECASE)
# A dollar sign before a letter, backslash or bracket opens inline math; "$20" does not.
_LATEX = re.compile(r"\\[a-zA-Z]{2,}|\$[a-zA-Z\\(|{]|\^[{0-9a-z]")
# Patterns below start with literals, not \b, so the regex engine can skip to
# candidate positions; that makes them several times faster on long texts.
_QUANTITY_QUESTION = re.compile(
    r"how (?:many|much|old|long|far|fast|tall|often|big|large|high|deep|heavy)\b"
    r"|what(?: is|'s| was) the (?:total|average|sum|product|number|value|difference|percentage|"
    r"area|probability|ratio|cost|price|remainder)\b|compute\b|calculate\b|simplify\b"
    r"|find (?:the )?(?:number|value|sum|product|minimum|maximum|largest|smallest|area|distance|"
    r"total|price|age|mean|average|remainder)\b"
)
# "15% of", "3 * 4", "2^10": arithmetic on numbers.
_ARITHMETIC = re.compile(r"\d ?(?:[+*/×÷^=] ?\d|%)")
_OPTION_LINE = re.compile(r"\n[ \t]*\(?[A-Ea-e][.)][ \t]+\S")
_LIST_LINE = re.compile(r"\n[ \t]*(?:[-*•+]|\d{1,3}[.)]|\(?[A-Ha-h][.)])[ \t]+\S")
_BLANK = re.compile(r"(?<![\w_])_+(?![\w_])")
# Length instructions only count after an instruction word ("in 100 words", "a
# 300-word essay"), so "he edits 1000 sentences a week" is not one.
_COUNT_WORDS = re.compile(
    r"(?:in|within|about|around|under|than|at most|at least|maximum of|exactly|write|using|"
    r"approximately)\s+(\d{1,4})\s+(word|sentence|paragraph|line)s?\b"
    r"|(\d{1,4})-(word|sentence|paragraph|line)\b"
)
_LIST_N = re.compile(
    r"(?:list|give(?: me)?|name|suggest|generate|write|provide|create|brainstorm|top)"
    r"\s+(?:me\s+)?(\d{1,3})\b"
)


@dataclass(frozen=True, slots=True)
class _Scan:
    """What one pass over a (windowed) message found; shared by every estimate."""

    text: str  # "\n" + window + "\n", so line patterns can anchor on "\n"
    lower: str
    words: frozenset[str]
    code_lines: int
    latex: int


def _scan(text: str, head: int, tail: int) -> _Scan:
    window = _window(text, head, tail)
    lined = "\n" + window + "\n"
    lower = lined.lower()
    code_lines = len(_CODE_LINE.findall(lined))
    if "{" in lined or ";" in lined:
        code_lines += len(_CODE_LINE_END.findall(lined))
    has_math = "\\" in lined or "$" in lined or "^" in lined
    latex = len(_LATEX.findall(lined)) if has_math else 0
    return _Scan(
        text=lined,
        lower=lower,
        words=frozenset(lower.translate(cues.SEPARATORS).split()),
        code_lines=code_lines,
        latex=latex,
    )


def extract_features(messages: Sequence[Message]) -> PromptFeatures:
    """Describe a chat request for routing, without keeping any of its text.

    Args:
        messages: the conversation as sent by the client, oldest first.

    Returns:
        The query type (one of ``QUERY_TYPES``), a complexity estimate in
        [0, 1], token estimates (``input_tokens`` covers every message plus a
        small per-message overhead), structure cues of the last user message,
        ``turns`` (the number of user messages) and a language hint.
    """
    users = [m.content for m in messages if m.role == "user" and m.content]
    system = " ".join(m.content for m in messages if m.role == "system" and m.content)
    last = users[-1] if users else _last_non_system(messages)
    scan = _scan(last, _HEAD_CHARS, _TAIL_CHARS)
    query_type = _classify(scan, system, users[-2] if len(users) > 1 else "")
    last_tokens = _estimate_tokens(last)
    question_count = last.count("?") + last.count("？")
    return PromptFeatures(
        query_type=query_type,
        complexity=_complexity(query_type, scan, last_tokens, question_count),
        input_tokens=sum(_estimate_tokens(m.content) + _TOKENS_PER_MESSAGE for m in messages),
        expected_output_tokens=_expected_output(query_type, scan, last_tokens),
        has_code_fence=_has_fence(last, scan),
        has_list=len(_LIST_LINE.findall(scan.text)) >= 2,
        question_count=question_count,
        turns=len(users),
        has_system_prompt=bool(system.strip()),
        language=_language(scan),
    )


def _last_non_system(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.role != "system" and message.content:
            return message.content
    return ""


def _window(text: str, head: int, tail: int) -> str:
    """The text itself, or its head and tail when it is longer than both."""
    if len(text) <= head + tail:
        return text
    return text[:head] + "\n" + text[len(text) - tail :]


def _has_fence(text: str, scan: _Scan) -> bool:
    """A fenced code block (``` or ~~~) or a [PYTHON]...[/PYTHON]-style tag."""
    if "```" in text or "~~~" in text:
        return True
    return ("[/" in scan.text or "</" in scan.text) and _CODE_TAG.search(scan.text) is not None


def _estimate_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer would count.

    ASCII is about 4 characters a token. A CJK character is about one token,
    and other non-ASCII letters (Cyrillic, Arabic, accents) about 2.5
    characters a token. Long non-ASCII texts are measured on a window and
    scaled, which is exact for texts that fit the window.
    """
    if not text:
        return 0
    if text.isascii():
        return (len(text) + 3) // 4
    sample = _window(text, _HEAD_CHARS, _TAIL_CHARS)
    scale = len(text) / len(sample)
    cjk = len(_CJK.findall(sample)) * scale
    other = len(_OTHER_NON_ASCII.findall(sample)) * scale
    ascii_chars = max(0.0, len(text) - cjk - other)
    return max(1, math.ceil(cjk + other / 2.5 + ascii_chars / 4))


def _lexical_scores(scan: _Scan, scores: dict[str, float]) -> None:
    """Add the distinct cue words and the cue phrases of one message."""
    for word in scan.words & cues.WORD_CUES.keys():
        for query_type, weight in cues.WORD_CUES[word]:
            scores[query_type] += weight
    for first, phrases in cues.PHRASES_BY_FIRST_WORD.items():
        if first in scan.words:
            for phrase, query_type, weight in phrases:
                if phrase in scan.lower:
                    scores[query_type] += weight


def _structure_scores(scan: _Scan, scores: dict[str, float]) -> None:
    """Add code lines, LaTeX, word problems and answer options."""
    text = scan.text
    if scan.code_lines >= 2 or "```" in text or _has_fence(text, scan):
        scores["code"] += 2.0 + min(2.0, 0.25 * scan.code_lines)
    if scan.latex:
        scores["math"] += 2.0 + min(3.0, 0.4 * scan.latex)
    quantity = _QUANTITY_QUESTION.search(scan.lower) is not None
    if quantity or "?" in text:
        numbers = len(_NUMBER.findall(text)) + len(scan.words & cues.NUMBER_WORDS)
        if quantity and numbers:
            scores["math"] += 2.5 if numbers >= 2 else 1.5
        elif numbers >= 3 and "?" in text:
            scores["math"] += 1.0
    if _ARITHMETIC.search(text):
        scores["math"] += 1.5
    blank = "_" in text and _BLANK.search(text) is not None
    if len(_OPTION_LINE.findall(text)) >= 2:
        # Lettered options around a blank are a fill-in-the-blank task.
        scores["reasoning" if blank else "analysis"] += 3.0 if blank else 2.0
    elif blank:
        scores["reasoning"] += 1.0


def _classify(scan: _Scan, system: str, previous: str) -> str:
    scores = dict.fromkeys(QUERY_TYPES, 0.0)
    _lexical_scores(scan, scores)
    _structure_scores(scan, scores)
    for text, weight in ((system, _SYSTEM_WEIGHT), (previous, _HISTORY_WEIGHT)):
        if text:
            extra = dict.fromkeys(QUERY_TYPES, 0.0)
            context = _scan(text, _HISTORY_CHARS, 0)
            _lexical_scores(context, extra)
            _structure_scores(context, extra)
            for query_type, score in extra.items():
                scores[query_type] += weight * score
    best = max(QUERY_TYPES, key=lambda t: scores[t])
    return best if scores[best] >= _MIN_SCORE else "conversation"


def _complexity(query_type: str, scan: _Scan, tokens: int, questions: int) -> float:
    """A 0..1 guess at how hard the request is.

    Sum of: a base per query type; a length term that saturates at ~4k
    tokens; up to 0.3 for "hard" cue words (prove, optimize, step by step...);
    up to 0.2 for LaTeX density; 0.05 for several questions. Minus 0.1 per
    "easy" cue (briefly, in one word...), clamped to [0, 1].
    """
    if not scan.words and not scan.text.strip():
        return 0.0
    score = cues.BASE_COMPLEXITY.get(query_type, 0.2)
    score += 0.2 * min(1.0, math.log10(1 + tokens) / math.log10(4_001))
    hard = len(scan.words & cues.HARD_WORDS) + sum(p in scan.lower for p in cues.HARD_PHRASES)
    score += min(0.3, 0.08 * hard)
    score += min(0.2, 0.03 * scan.latex)
    score += 0.05 if questions > 1 else 0.0
    easy = len(scan.words & cues.EASY_WORDS) + _short_answer(scan)
    score -= 0.1 * easy
    return round(min(1.0, max(0.0, score)), 4)


def _short_answer(scan: _Scan) -> bool:
    return any(p in scan.lower for p in cues.SHORT_ANSWER_PHRASES)


def _expected_output(query_type: str, scan: _Scan, tokens: int) -> int:
    """How many tokens a good answer probably needs.

    A base per query type (translation and summarization scale with the input),
    replaced by explicit cues when present: a short-answer instruction (~8
    tokens), "N words/sentences/paragraphs", "list N ...", "essay"; then
    scaled by "detailed" (x1.8) or "briefly" (x0.4) words.
    """
    if _short_answer(scan):
        return 8
    if query_type == "translation":
        expected = 1.1 * tokens
    elif query_type == "summarization" and tokens >= _SUMMARY_INPUT_TOKENS:
        # The text to summarise is in the prompt: answer a fraction of it.
        expected = min(cues.BASE_OUTPUT["summarization"], max(50.0, 0.3 * tokens))
    else:
        expected = cues.BASE_OUTPUT.get(query_type, 200)
    count = _COUNT_WORDS.search(scan.lower) if scan.words & cues.LENGTH_UNITS else None
    listed = _LIST_N.search(scan.lower) if scan.words & cues.LIST_VERBS else None
    if count:
        number, unit = count.group(1, 2) if count.group(1) else count.group(3, 4)
        expected = int(number) * cues.TOKENS_PER_UNIT[unit]
    elif listed:
        expected = int(listed.group(1)) * 30
    elif "essay" in scan.words:
        expected = 900
    if scan.words & cues.DETAILED_WORDS:
        expected *= 1.8
    if scan.words & cues.EASY_WORDS:
        expected *= 0.4
    return int(min(_MAX_EXPECTED_OUTPUT, max(1.0, expected)))


def _language(scan: _Scan) -> str:
    """A language hint from scripts (CJK, Cyrillic, Arabic) or stopwords.

    Returns "code" for text with code but no natural-language cue, and
    "other" when nothing is recognised.
    """
    if not scan.text.isascii():
        script = cues.dominant_script(scan.text)
        if script is not None:
            return script
    hits = {lang: len(scan.words & stops) for lang, stops in cues.STOPWORDS.items()}
    best = max(hits, key=lambda lang: hits[lang])
    runner_up = max(hits[lang] for lang in hits if lang != best)
    if hits[best] > runner_up and (hits[best] >= 2 or len(scan.words) <= 8):
        return best
    return "code" if scan.code_lines >= 2 else "other"
