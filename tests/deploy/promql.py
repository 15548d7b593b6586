"""Small PromQL helpers for the deploy tests: metric names used by an expression.

Not a parser: it removes strings, label matchers, range selectors and grouping
clauses, then keeps identifiers that are neither functions nor keywords. Good
enough for the expressions we write, and checked against promtool, which does
parse them, in the tests.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*")
_GRAFANA_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}?")


def substitute_grafana_variables(expr: str) -> str:
    """Replace Grafana variables by values Prometheus accepts (ranges become 5m)."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    return _GRAFANA_VAR.sub(".*", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names selected by ``expr``."""
    text = _STRING.sub("", substitute_grafana_variables(expr))
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names: set[str] = set()
    for match in _IDENT.finditer(text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names
