"""Find JSON-like objects in free text and load them tolerantly.

Models wrap their JSON in prose and code fences, write Python dicts, leave trailing commas,
forget to quote values (``{"city": Melbourne}``), add comments, and get cut off. This module
finds every top-level ``{...}`` (and ``[...]`` holding objects) in a text and loads it with
:func:`json.loads` first, then with a small forgiving parser of its own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

_MAX_CANDIDATES = 64
_MAX_DEPTH = 48
_MAX_SPAN = 200_000
_SCAN_BUDGET = 2_000_000  # characters scanned in all, per text
_OPENER = re.compile(r"[{\[]")
_BARE_KEY = re.compile(r"[^:=,{}\[\]\n]{1,80}")


@dataclass(frozen=True)
class Candidate:
    """One JSON-like value found in a text."""

    value: dict[str, Any] | list[Any]
    start: int
    end: int
    complete: bool  # False when the text ended before the value was closed


def _opens_string(text: str, i: int) -> bool:
    """Whether a single quote at ``i`` starts a string (and is not an apostrophe)."""
    j = i - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    return j < 0 or text[j] in ":,{[("


_Closing = Literal["closed", "eof", "bad"]


def _match_close(text: str, start: int, *, strings: bool) -> tuple[int, _Closing]:
    """Index just past the bracket that closes ``text[start]`` and how the scan ended."""
    stack: list[str] = []
    quote = ""
    i, n = start, min(len(text), start + _MAX_SPAN)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote or (ch == "\n" and quote == "'"):
                quote = ""
        elif strings and (ch == '"' or (ch == "'" and _opens_string(text, i))):
            quote = ch
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack or ch != stack[-1]:
                return i, "bad"
            stack.pop()
            if not stack:
                return i + 1, "closed"
        i += 1
    return n, "eof"


def _is_object_like(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and any(isinstance(item, dict) for item in value)


def find_candidates(text: str) -> list[Candidate]:
    """Every top-level object in ``text``, in order; a cut-off one is loaded as far as it goes.

    The work is bounded (a scan budget in characters) so that pathological texts such as
    thousands of unclosed braces cannot stall a run.
    """
    found: list[Candidate] = []
    i = 0
    budget = _SCAN_BUDGET
    while len(found) < _MAX_CANDIDATES and budget > 0:
        match = _OPENER.search(text, i)
        if match is None:
            break
        start = match.start()
        end, how = _match_close(text, start, strings=True)
        budget -= end - start + 1
        if how != "closed":
            end, how = _match_close(text, start, strings=False)
            budget -= end - start
        if how == "closed":
            value, complete = load(text[start:end])
            if _is_object_like(value):
                assert value is not None
                found.append(Candidate(value, start, end, complete))
                i = end
                continue
        elif how == "eof" and text[start] == "{":
            value, _ = load(text[start:])
            budget -= 2 * (len(text) - start)
            if isinstance(value, dict) and value:
                found.append(Candidate(value, start, len(text), False))
        i = start + 1
    return found


def load(src: str) -> tuple[Any, bool]:
    """Load a JSON-like text: ``(value, complete)``; ``(None, False)`` when it is not one."""
    try:
        return json.loads(src), True
    except (ValueError, RecursionError):
        pass
    parser = _LooseParser(src)
    try:
        value = parser.parse()
    except _Fail:
        return None, False
    return value, not parser.truncated


class _Fail(Exception):
    """Not JSON-like at all."""


class _Eof(Exception):
    """The text ended inside a value."""


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_LITERALS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "none": None,
    "nan": None,
    "undefined": None,
}
_VALUE_END = re.compile(
    r",\s*(?:\"[^\"\n]*\"\s*[:=]|'[^'\n]*'\s*[:=]|[A-Za-z_][\w \-]{0,40}\s*:|[}\]]|//|/\*|#|$)"
)
_NEXT_KEY = re.compile(r"[\"'][^\"'\n]{1,80}[\"']\s*[:=]")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}


class _LooseParser:
    """A forgiving recursive-descent reader for JSON as models write it.

    Tolerates single quotes, unquoted keys and values, ``True/False/None``, comments,
    trailing or missing commas, raw newlines in strings, and a text that stops early (then
    ``truncated`` is set and the members read so far are kept, the half-read one dropped).
    """

    def __init__(self, src: str) -> None:
        self.s = src
        self.i = 0
        self.truncated = False

    def parse(self) -> Any:
        self._ws()
        if self.i >= len(self.s) or self.s[self.i] not in "{[":
            raise _Fail
        try:
            return self._value(0, in_array=False)
        except _Eof as exc:
            raise _Fail from exc

    def _ws(self) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            ch = s[self.i]
            if ch.isspace() or (ch == "\\" and s[self.i + 1 : self.i + 2].isspace()):
                self.i += 1  # a stray backslash before a line break is a line continuation
            elif s.startswith("//", self.i) or ch == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end + 1
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                self.i = n if end < 0 else end + 2
            else:
                break

    def _value(self, depth: int, *, in_array: bool) -> Any:
        if depth > _MAX_DEPTH:
            raise _Fail
        self._ws()
        if self.i >= len(self.s):
            raise _Eof
        ch = self.s[self.i]
        if ch == "{":
            return self._object(depth)
        if ch == "[":
            return self._array(depth)
        if ch in "\"'":
            return self._string(ch)
        return self._bare(in_array=in_array)

    def _container_end(self) -> bool:
        """Skip separators; True at the end of the text (marks the value cut off)."""
        while True:
            self._ws()
            if self.i >= len(self.s):
                self.truncated = True
                return True
            if self.s[self.i] != ",":
                return False
            self.i += 1

    def _object(self, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.i += 1
        while True:
            if self._container_end():
                return out
            if self.s[self.i] == "}":
                self.i += 1
                return out
            if self.s[self.i] == "]":
                raise _Fail
            key = self._key()
            self._ws()
            if self.i >= len(self.s):
                self.truncated = True
                return out
            if self.s[self.i] not in ":=":
                raise _Fail
            self.i += 1
            self._ws()
            if self.i < len(self.s) and self.s[self.i] in ",}":
                out[key] = None
                continue
            try:
                out[key] = self._value(depth + 1, in_array=False)
            except _Eof:
                self.truncated = True
                return out

    def _array(self, depth: int) -> list[Any]:
        out: list[Any] = []
        self.i += 1
        while True:
            if self._container_end():
                return out
            if self.s[self.i] == "]":
                self.i += 1
                return out
            if self.s[self.i] == "}":
                raise _Fail
            try:
                out.append(self._value(depth + 1, in_array=True))
            except _Eof:
                self.truncated = True
                return out

    def _key(self) -> str:
        ch = self.s[self.i]
        if ch in "\"'":
            return self._string(ch)
        match = _BARE_KEY.match(self.s, self.i)
        if match is None:
            raise _Fail
        self.i = match.end()
        key = match[0].strip().strip("*_` ")
        if not key:
            raise _Fail
        return key

    def _string(self, quote: str) -> str:
        s, n = self.s, len(self.s)
        i = self.i + 1
        out: list[str] = []
        while i < n:
            ch = s[i]
            if ch == "\\" and i + 1 < n:
                nxt = s[i + 1]
                if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", s[i + 2 : i + 6]):
                    out.append(chr(int(s[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                out.append(_ESCAPES.get(nxt, nxt))
                i += 2
                continue
            if ch == quote and self._closes_string(i + 1):
                self.i = i + 1
                return "".join(out)
            out.append(ch)
            i += 1
        raise _Eof

    def _closes_string(self, j: int) -> bool:
        """A quote closes a string only if what follows fits; else it is part of the text."""
        while j < len(self.s) and (
            self.s[j] in " \t\r" or (self.s[j] == "\\" and self.s[j + 1 : j + 2] == "\n")
        ):
            j += 1
        if j >= len(self.s) or self.s[j] in ",:=}]\n/#":
            return True
        return _NEXT_KEY.match(self.s, j) is not None  # a missing comma before the next key

    def _bare(self, *, in_array: bool) -> Any:
        s, n = self.s, len(self.s)
        i = self.i
        while i < n:
            ch = s[i]
            if ch in "}]\n" or (ch == "," and (in_array or _VALUE_END.match(s, i))):
                break
            i += 1
        if i >= n:
            raise _Eof
        token = s[self.i : i]
        self.i = i
        token = re.sub(r"\s+//.*$", "", token).strip()
        if not token:
            raise _Fail
        if _NUMBER.fullmatch(token):
            number = float(token)
            return int(number) if re.fullmatch(r"[-+]?\d+", token) else number
        lowered = token.lower()
        if lowered in _LITERALS:
            return _LITERALS[lowered]
        return token
