"""The JQL subset the simulator answers, parsed strictly: anything outside it is an error
(HTTP 400), never a silently wrong result.

Supported: ``project = X`` / ``project in (A, B)``, ``key = K`` / ``key in (…)`` (also
``issuekey``), ``created`` / ``updated`` compared with ``>= > < <= =`` against
``YYYY-MM-DD``, ``YYYY-MM-DD HH:mm`` (``/`` separators allowed, quoted or not when there is
no space) or a relative offset such as ``-2d`` / ``-90m``; clauses joined by ``AND``;
``ORDER BY created|updated|key [ASC|DESC]`` (comma-separated; default ``key ASC``). Dates are
read in the site's time zone, which for the simulator is **UTC**. An unknown project is an
error, as on Jira; a well-formed key that does not exist (e.g. deleted) simply matches
nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jira_pipeline.core.keys import is_valid_issue_key


class JqlError(ValueError):
    """An unsupported or malformed query; the message is what the 400 body carries."""


@dataclass(frozen=True)
class Condition:
    field: str  # "project" | "key" | "created" | "updated"
    op: str  # "=", "in", ">=", ">", "<=", "<"
    values: tuple[str, ...] = ()
    instant_ms: int | None = None  # for date comparisons: the bound as epoch milliseconds
    whole_day: bool = False  # "created = 2024-01-05" matches that whole day


@dataclass(frozen=True)
class Query:
    conditions: tuple[Condition, ...]
    order: tuple[tuple[str, bool], ...]  # (field, descending)


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>>=|<=|!=|!~|=|>|<|~)
  | (?P<punct>[(),])
  | (?P<word>[^\s"'(),=<>!~]+)
)""",
    re.VERBOSE,
)
_FIELDS = {
    "project": "project",
    "key": "key",
    "issuekey": "key",
    "created": "created",
    "createddate": "created",
    "updated": "updated",
    "updateddate": "updated",
}
_ORDER_FIELDS = {"created": "created", "updated": "updated", "key": "key", "issuekey": "key"}
_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?\Z")
_RELATIVE = re.compile(r"([-+]?)(\d+)([wdhm])\Z")
_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}.")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        pos = match.end()
    return tokens


def _instant(value: str, now: datetime) -> tuple[int, bool]:
    """A date operand as epoch ms (UTC site time zone) and whether it names a whole day."""
    match = _DATE.match(value.strip())
    if match:
        year, month, day, hour, minute = match.groups()
        try:
            at = datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), tzinfo=UTC
            )
        except ValueError as exc:
            raise JqlError(f"Date value '{value}' for field is invalid: {exc}.") from None
        return int(at.timestamp() * 1000), hour is None
    match = _RELATIVE.match(value.strip())
    if match:
        sign, amount, unit = match.groups()
        delta = _UNITS[unit] * int(amount)
        at = now - delta if sign == "-" else now + delta
        return int(at.timestamp() * 1000), False
    raise JqlError(
        f"Date value '{value}' for field is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
        "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )


def parse_jql(text: str, now: datetime | None = None) -> Query:
    """Parse ``text``; raise :class:`JqlError` for anything outside the supported subset."""
    now = now or datetime.now(UTC)
    tokens = _tokens(text or "")
    pos = 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        return tokens[pos + offset] if pos + offset < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise JqlError("Error in the JQL Query: the query ended unexpectedly.")
        pos += 1
        return tokens[pos - 1]

    def is_word(token: tuple[str, str] | None, *words: str) -> bool:
        return token is not None and token[0] == "word" and token[1].lower() in words

    conditions: list[Condition] = []
    while pos < len(tokens) and not is_word(peek(), "order"):
        if conditions:
            joiner = take()
            if not is_word(joiner, "and"):
                raise JqlError(
                    f"Error in the JQL Query: '{joiner[1]}' is not supported by the "
                    "simulator; only clauses joined by AND are."
                )
        kind, name = take()
        if kind == "punct" and name == "(":
            raise JqlError(
                "Error in the JQL Query: parentheses are not supported by the simulator."
            )
        if is_word((kind, name), "not"):
            raise JqlError("Error in the JQL Query: NOT is not supported by the simulator.")
        field = _FIELDS.get(name.lower()) if kind in ("word", "string") else None
        if field is None:
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to "
                "view it (the simulator supports project, key, created, updated)."
            )
        if peek() is not None and peek()[0] == "punct" and peek()[1] == "(":
            raise JqlError(f"Error in the JQL Query: functions are not supported ('{name}').")
        op_kind, op = take()
        if op_kind == "word" and op.lower() == "in":
            op = "in"
        elif op_kind == "word" and op.lower() in ("not", "is", "was", "changed"):
            raise JqlError(
                f"Error in the JQL Query: operator '{op.upper()}' is not supported "
                "by the simulator."
            )
        elif op_kind != "op" or op in ("!=", "~", "!~"):
            raise JqlError(
                f"Error in the JQL Query: operator '{op}' is not supported for field '{name}'."
            )
        conditions.append(_condition(field, op, take, peek, now))
    order: list[tuple[str, bool]] = []
    if pos < len(tokens):
        take()
        if not is_word(take(), "by"):
            raise JqlError("Error in the JQL Query: expecting 'BY' after 'ORDER'.")
        while True:
            kind, name = take()
            field = _ORDER_FIELDS.get(name.lower())
            if field is None:
                raise JqlError(
                    f"Error in the JQL Query: ordering by '{name}' is not supported "
                    "by the simulator (created, updated, key)."
                )
            descending = False
            if is_word(peek(), "asc", "desc"):
                descending = take()[1].lower() == "desc"
            order.append((field, descending))
            if peek() is None:
                break
            separator = take()
            if separator != ("punct", ","):
                raise JqlError(f"Error in the JQL Query: unexpected '{separator[1]}' in ORDER BY.")
    return Query(tuple(conditions), tuple(order))


def _condition(field, op, take, peek, now: datetime) -> Condition:
    if field in ("created", "updated"):
        if op == "in":
            raise JqlError(f"Error in the JQL Query: operator 'in' is not supported for '{field}'.")
        kind, value = take()
        if kind not in ("word", "string"):
            raise JqlError(f"Error in the JQL Query: expecting a date after '{op}'.")
        if kind == "word" and peek() is not None and peek()[0] == "punct" and peek()[1] == "(":
            raise JqlError(
                f"Error in the JQL Query: functions such as '{value}()' are not "
                "supported by the simulator."
            )
        instant, whole_day = _instant(value, now)
        return Condition(field, op, (value,), instant, whole_day and op == "=")
    if op not in ("=", "in"):
        raise JqlError(f"Error in the JQL Query: operator '{op}' is not supported for '{field}'.")
    values: list[str] = []
    if op == "=":
        kind, value = take()
        if kind not in ("word", "string"):
            raise JqlError(f"Error in the JQL Query: expecting a value for '{field}'.")
        values.append(value)
    else:
        if take() != ("punct", "("):
            raise JqlError("Error in the JQL Query: expecting '(' after 'in'.")
        while True:
            kind, value = take()
            if kind not in ("word", "string"):
                raise JqlError(f"Error in the JQL Query: unexpected '{value}' in list.")
            values.append(value)
            kind, value = take()
            if (kind, value) == ("punct", ")"):
                break
            if (kind, value) != ("punct", ","):
                raise JqlError(f"Error in the JQL Query: expecting ',' or ')' but got '{value}'.")
    if field == "key":
        values = [v.upper() for v in values]
        for value in values:
            if not is_valid_issue_key(value):
                raise JqlError(f"The issue key '{value}' for field 'key' is invalid.")
    return Condition(field, "in", tuple(values))
