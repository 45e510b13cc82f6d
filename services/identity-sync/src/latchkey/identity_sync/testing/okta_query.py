"""Okta's `filter` / `search` expression language, for the fake Okta server: `attr op "value"` with
eq, gt, ge, lt, le, sw, co (search only) and `attr pr`, combined with `and`, `or` and parentheses
(`ne` is not supported, as in Okta). Dates compare as instants (`yyyy-MM-dd'T'HH:mm:ss.SSSZ`).

Each endpoint accepts only certain attributes, as Okta documents: an expression naming another one
is refused with 400 E0000031, which is how a client using the wrong field name finds out.
"""

from __future__ import annotations

import operator as op
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DATE_ATTRIBUTES = frozenset(
    {"created", "activated", "statusChanged", "lastUpdated", "lastMembershipUpdated", "passwordChanged"}
)
# attributes each query parameter of each endpoint accepts (`profile.*`: any profile property)
USER_FILTER = frozenset(
    {"status", "lastUpdated", "id", "profile.login", "profile.email", "profile.firstName", "profile.lastName"}
)
USER_SEARCH = frozenset(
    {"id", "status", "created", "activated", "statusChanged", "lastUpdated", "type.id", "profile.*"}
)
GROUP_FILTER = frozenset({"id", "type", "lastUpdated", "lastMembershipUpdated"})
GROUP_SEARCH = frozenset(
    {"id", "type", "created", "lastUpdated", "lastMembershipUpdated", "source.id", "profile.*"}
)

_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|[^\s()"]+)')
_OPERATORS = frozenset({"eq", "gt", "ge", "lt", "le", "sw", "co", "pr"})
_ORDER: dict[str, Callable[[Any, Any], Any]] = {"gt": op.gt, "ge": op.ge, "lt": op.lt, "le": op.le}

Getter = Callable[[str], Any]
Predicate = Callable[[Getter], bool]


class InvalidQuery(ValueError):
    """The expression is malformed or names an attribute the endpoint does not filter on."""


def parse_okta_time(value: str) -> float:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        raise InvalidQuery(f"invalid date {value!r}") from None


@dataclass
class _Parser:
    tokens: list[str]
    allowed: frozenset[str]
    search: bool
    position: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise InvalidQuery("unexpected end of expression")
        self.position += 1
        return token

    def expression(self) -> Predicate:
        terms = [self.conjunction()]
        while (self.peek() or "").lower() == "or":
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else (lambda get: any(term(get) for term in terms))

    def conjunction(self) -> Predicate:
        factors = [self.factor()]
        while (self.peek() or "").lower() == "and":
            self.take()
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else (lambda get: all(factor(get) for factor in factors))

    def factor(self) -> Predicate:
        if self.peek() == "(":
            self.take()
            inner = self.expression()
            if self.take() != ")":
                raise InvalidQuery("missing )")
            return inner
        attribute = self.take()
        if attribute not in self.allowed and not (
            attribute.startswith("profile.") and "profile.*" in self.allowed
        ):
            raise InvalidQuery(f"cannot filter on {attribute!r}")
        operator = self.take().lower()
        if operator not in _OPERATORS or (operator == "co" and not self.search):
            raise InvalidQuery(f"unsupported operator {operator!r}")
        if operator == "pr":
            return lambda get: get(attribute) not in (None, "")
        return _comparison(attribute, operator, _literal(self.take(), attribute))


def _literal(token: str, attribute: str) -> Any:
    if token.startswith('"') and token.endswith('"') and len(token) >= 2:
        text = token[1:-1].replace('\\"', '"')
        return parse_okta_time(text) if attribute in DATE_ATTRIBUTES else text
    lowered = token.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return float(token)
    except ValueError:
        raise InvalidQuery(f"invalid value {token!r}") from None


def _comparison(attribute: str, operator: str, expected: Any) -> Predicate:
    def check(get: Getter) -> bool:
        actual = get(attribute)
        if actual is None or expected is None:
            return operator == "eq" and actual is expected
        if isinstance(actual, str) and isinstance(expected, str):
            actual, wanted = actual.lower(), expected.lower()
        else:
            wanted = expected
        try:
            if operator == "eq":
                return bool(actual == wanted)
            if operator == "sw":
                return str(actual).startswith(str(wanted))
            if operator == "co":
                return str(wanted) in str(actual)
            return bool(_ORDER[operator](actual, wanted))
        except TypeError:
            return False

    return check


def compile_query(expression: str, allowed: frozenset[str], *, search: bool = False) -> Predicate:
    """A predicate over a getter (attribute path -> value; dates as epoch seconds)."""
    tokens: list[str] = []
    position = 0
    while match := _TOKEN.match(expression, position):
        tokens.append(match.group(1))
        position = match.end()
    if expression[position:].strip():
        raise InvalidQuery("unreadable expression")
    parser = _Parser(tokens, allowed, search)
    predicate = parser.expression()
    if parser.peek() is not None:
        raise InvalidQuery(f"unexpected {parser.peek()!r}")
    return predicate
