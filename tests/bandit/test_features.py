"""Behaviour of the local prompt classifier on realistic prompts."""

from __future__ import annotations

import time

import pytest

from bandit.features import extract_features
from bandit.types import PromptFeatures
from providers.base import Message
from providers.catalog import QUERY_TYPES

_ARTICLE = (
    "The city council met on Tuesday to discuss the new transit plan. Members argued "
    "about the cost of extending the tram line to the northern suburbs, which would "
    "take four years to build. Supporters said it would cut commute times in half; "
    "critics pointed to the budget deficit and asked for an independent review. "
) * 12


def user(text: str) -> list[Message]:
    return [Message("user", text)]


def features(text: str) -> PromptFeatures:
    return extract_features(user(text))


QUERY_TYPE_CASES = [
    ("code", "Write a Python function that returns the n-th Fibonacci number."),
    ("code", "Write a function to find the shared elements from the given two lists."),
    (
        "code",
        "Why does this raise a KeyError?\n```python\nd = {}\nprint(d['x'])\n```",
    ),
    (
        "code",
        "You are given a Python function and an assertion containing an input to the "
        "function. Complete the assertion with a literal.\n[PYTHON]\ndef f(x):\n"
        "    return x * 2\nassert f(3) == ??\n[/PYTHON]",
    ),
    ("code", "How do I refactor this JavaScript callback chain to use async/await?"),
    (
        "math",
        "Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins "
        "with four. She sells the rest for $2 each. How much does she make every day?",
    ),
    ("math", r"Let $f(x) = 2x - 3$. Find $f^{-1}(7)$ and simplify \[\frac{x^2+1}{x}.\]"),
    ("math", "Solve the equation 3x + 5 = 20 for x."),
    ("math", "What is the probability of rolling two sixes with two fair dice?"),
    ("math", "What's 15% of 240?"),
    ("math", "Convert 5 miles to kilometers."),
    (
        "analysis",
        "Which of the following statements best explains why magnets stick to a fridge?\n"
        "A) The door is smooth.\nB) The door contains iron.\nC) The door is cold.\n"
        "D) The door has wires.\nAnswer:",
    ),
    (
        "analysis",
        "Compare the pros and cons of microservices versus a monolith for a small startup.",
    ),
    ("analysis", "Explain why the Roman Empire declined in the third century."),
    ("analysis", "What are the main differences between TCP and UDP?"),
    ("analysis", "Is it ethical to use AI in hiring decisions? Discuss."),
    (
        "reasoning",
        "Please answer with the letter of the correct answer.\n\nAdam was cold and Michael "
        "was hot so _ removed a heavy jacket.\nA) Adam\nB) Michael\nAnswer:",
    ),
    (
        "reasoning",
        "Here is a riddle: what has keys but can't open locks? Use logic to deduce it.",
    ),
    ("creative", "Write a short story about a lighthouse keeper who finds a message."),
    ("creative", "Write a haiku about autumn rain."),
    ("creative", "Come up with a catchy slogan for a vegan bakery."),
    ("creative", "Draft an email to my landlord about a broken heater."),
    ("conversation", "Hi! How are you today?"),
    ("conversation", "Thanks, that was really kind of you."),
    ("summarization", f"{_ARTICLE}\n\nSummarize the article above in three sentences."),
    ("summarization", f"TL;DR please:\n{_ARTICLE}"),
    (
        "extraction",
        "Extract every person name and date from this email: 'Hi Ana, Bob moved the "
        "review to March 3rd.'",
    ),
    (
        "extraction",
        "Classify the sentiment of this review as positive or negative: 'The battery "
        "died after two days.'",
    ),
    ("translation", "Translate into French: 'Where is the train station?'"),
    ("translation", "How do you say 'good morning' in Japanese?"),
    ("translation", "Traduire en anglais : « Je voudrais un café, s'il vous plaît. »"),
]


@pytest.mark.parametrize(("expected", "prompt"), QUERY_TYPE_CASES)
def test_query_type_of_realistic_prompts(expected: str, prompt: str) -> None:
    assert features(prompt).query_type == expected


def test_every_emitted_type_is_a_catalog_query_type() -> None:
    emitted = {features(prompt).query_type for _, prompt in QUERY_TYPE_CASES}
    assert emitted == set(QUERY_TYPES)


def test_system_prompt_is_a_weaker_cue_than_the_user_message() -> None:
    system = Message("system", "You translate everything the user writes into German.")
    alone = extract_features([system, Message("user", "The weather is nice today.")])
    assert alone.query_type == "translation"
    overridden = extract_features([system, Message("user", "Write a poem about the sea.")])
    assert overridden.query_type == "creative"
    chat = extract_features(
        [Message("system", "You are a helpful coding assistant."), Message("user", "Hi there!")]
    )
    assert chat.query_type == "conversation"


def test_structure_cues() -> None:
    messages = [
        Message("system", "Be concise."),
        Message("user", "Hello"),
        Message("assistant", "Hi, what can I do?"),
        Message(
            "user",
            "Two questions. Is this fast? Is it safe?\n- step one\n- step two\n"
            "```sql\nSELECT 1;\n```",
        ),
    ]
    f = extract_features(messages)
    assert f.has_code_fence and f.has_list and f.has_system_prompt
    assert f.question_count == 2
    assert f.turns == 2
    plain = features("Tell me about tea")
    assert not (plain.has_code_fence or plain.has_list or plain.has_system_prompt)
    assert (plain.question_count, plain.turns) == (0, 1)


@pytest.mark.parametrize(
    ("language", "prompt"),
    [
        ("en", "What is the best way to learn to cook at home?"),
        ("zh", "请帮我写一封感谢信，感谢老师这一年的照顾。"),
        ("ja", "東京でおすすめのラーメン屋を教えてください。"),
        ("ko", "서울에서 가볼 만한 곳을 추천해 주세요."),
        ("ru", "Как приготовить борщ дома? Напиши рецепт."),
        ("ar", "ما هي عاصمة فرنسا؟ أجب باختصار من فضلك."),
        ("es", "¿Cómo puedo mejorar mi español para el trabajo? Dame consejos por favor."),
        ("fr", "Comment est-ce que je peux améliorer mon français pour le travail ?"),
        ("de", "Wie kann ich mein Deutsch für die Arbeit verbessern? Bitte gib mir Tipps."),
        ("code", "def f(x):\n    return x + 1\nprint(f(2))"),
        ("other", "12345 + 678 = ?"),
    ],
)
def test_language_hint(language: str, prompt: str) -> None:
    assert features(prompt).language == language


def test_token_estimates_count_cjk_per_character() -> None:
    ascii_text = "word " * 400
    assert features(ascii_text).input_tokens == pytest.approx(len(ascii_text) / 4, rel=0.05)
    chinese = "我们今天讨论一下这个问题的解决方案" * 10  # 170 characters
    tokens = features(chinese).input_tokens
    assert 130 <= tokens <= 220  # about one token per character, not chars / 4
    both = extract_features([Message("system", ascii_text), Message("user", chinese)])
    assert both.input_tokens > tokens


@pytest.mark.parametrize(
    ("prompt", "low", "high"),
    [
        ("What is the capital of Peru? Answer in one word.", 1, 10),
        (
            "Which planet is largest?\nA) Mars\nB) Jupiter\nPrint only a single choice "
            "without explanation.",
            1,
            10,
        ),
        ("List 10 ideas for a team offsite.", 200, 400),
        ("Describe your ideal weekend in 50 words.", 50, 100),
        ("Write a 1000-word essay on the history of coffee.", 1_200, 1_600),
    ],
)
def test_expected_output_follows_length_cues(prompt: str, low: int, high: int) -> None:
    assert low <= features(prompt).expected_output_tokens <= high


def test_expected_output_by_type_and_modifiers() -> None:
    essay = features("Write an essay about the role of rivers in early cities.")
    story = features("Write a short story about a cat.")
    chat = features("Hi there, how is it going?")
    assert essay.expected_output_tokens > chat.expected_output_tokens
    assert story.expected_output_tokens > chat.expected_output_tokens
    detailed = features("Give a detailed explanation of how vaccines train the immune system.")
    brief = features("Give a brief explanation of how vaccines train the immune system.")
    assert detailed.expected_output_tokens > brief.expected_output_tokens
    summary = features(f"{_ARTICLE}\nSummarize this.")
    assert summary.expected_output_tokens < summary.input_tokens
    known_work = features("Summarize the plot of Hamlet.")  # nothing to shrink: a full summary
    assert known_work.expected_output_tokens > 100
    counted = features("Mark edits 1000 sentences each week. How many does he edit in 3 weeks?")
    assert counted.expected_output_tokens < 1_000  # a quantity, not a length instruction


def test_complexity_reflects_difficulty_cues() -> None:
    hard = features(
        r"Prove rigorously that for all primes $p > 3$, $p^2 - 1$ is divisible by 24. "
        r"Derive each step, and handle the edge cases of \(p \equiv 1 \pmod 6\)."
    )
    word_problem = features("Tom has 3 apples and buys 2 more. How many apples does he have?")
    chat = features("hey")
    quick = features("Quickly, in one word: what color is the sky?")
    assert hard.complexity > word_problem.complexity > chat.complexity
    assert quick.complexity < features("What color is the sky?").complexity
    for f in (hard, word_problem, chat, quick):
        assert 0.0 <= f.complexity <= 1.0


def test_deterministic() -> None:
    messages = [Message("system", "You are terse."), *user(QUERY_TYPE_CASES[5][1])]
    assert extract_features(messages) == extract_features(list(messages))


def test_empty_and_degenerate_inputs() -> None:
    empty = extract_features([])
    assert empty.query_type == "conversation"
    assert (empty.input_tokens, empty.turns, empty.question_count) == (0, 0, 0)
    assert empty.complexity == 0.0
    assert empty.language == "other"
    assert not empty.has_system_prompt
    blank = extract_features([Message("user", ""), Message("user", "   ")])
    assert blank.query_type == "conversation" and blank.complexity == 0.0
    only_system = extract_features([Message("system", "You are helpful.")])
    assert only_system.has_system_prompt and only_system.turns == 0


def test_huge_input_reads_the_instruction_at_either_end_quickly() -> None:
    document = _ARTICLE * 200  # ~190k characters, ~48k tokens
    tail = features(f"{document}\n\nSummarize the text above in five bullet points.")
    head = features(f"Translate the following report into German:\n\n{document}")
    assert tail.query_type == "summarization"
    assert head.query_type == "translation"
    assert tail.input_tokens == pytest.approx(len(document) / 4, rel=0.01)
    messages = user(document + "What now?")
    best = min(_elapsed(messages) for _ in range(3))
    assert best < 0.02, f"{best * 1e3:.1f} ms: the scan is no longer bounded"


def _elapsed(messages: list[Message]) -> float:
    start = time.perf_counter()
    extract_features(messages)
    return time.perf_counter() - start


def test_earlier_user_turn_is_context_for_a_vague_follow_up() -> None:
    messages = [
        Message("user", "Translate into Spanish: 'The meeting moved to Friday.'"),
        Message("assistant", "La reunión se trasladó al viernes."),
        Message("user", "And this one: 'See you there.'"),
    ]
    assert extract_features(messages).query_type == "translation"
