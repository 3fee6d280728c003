"""JSON schema -> llama.cpp grammar (GBNF), for constrained decoding of local models.

The grammar is stricter than the schema on purpose, so that a small model cannot wander off:

* every property of an object is written, in the schema's order (a ``null`` where the model
  has nothing), so a reasoning field declared first is always generated first and the
  chain of thought survives the constraint;
* numbers with integer bounds (``-90..90``, ``0..1``) are kept inside them, with at most
  ``fraction_digits`` decimals and no exponent;
* strings and arrays without their own limits get ``max_string`` characters and
  ``max_items`` items, so that the answer closes within a token budget;
* whitespace between tokens is short and bounded.

It covers what pydantic emits (objects, arrays, strings, numbers, integers, booleans, null,
enums, consts, ``anyOf``/``oneOf``, local ``$ref``); a free-form ``{}`` becomes any JSON value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ethan.errors import ConfigError

_WS = 'ws ::= " "?'
_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ( ["\\\\/bfnrt] | "u" [0-9a-fA-F]{4} )'
_FRACTION_FREE_NUMBER = '"-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )?'
_JSON_VALUE = [
    "json-value ::= json-object | json-array | json-string | json-number "
    '| "true" | "false" | "null"',
    'json-object ::= "{" ws ( json-string ws ":" ws json-value ws '
    '( "," ws json-string ws ":" ws json-value ws )* )? "}"',
    'json-array ::= "[" ws ( json-value ws ( "," ws json-value ws )* )? "]"',
    'json-string ::= "\\"" char* "\\""',
    f"json-number ::= {_FRACTION_FREE_NUMBER}",
]


def schema_to_gbnf(
    schema: Mapping[str, Any],
    *,
    max_items: int | None = 8,
    max_string: int | None = 1000,
    fraction_digits: int = 6,
) -> str:
    """A GBNF grammar whose root is one JSON value matching ``schema``."""
    converter = _Converter(schema, max_items, max_string, fraction_digits)
    root = converter.visit(schema, "root")
    return converter.grammar(root)


def _literal(text: str) -> str:
    """A GBNF string literal matching ``text`` exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\r", "\\r").replace("\t", "\\t") + '"'


def _json_literal(value: Any) -> str:
    return _literal(json.dumps(value, ensure_ascii=False))


def _repeat(item: str, low: int, high: int | None, separator: str = "") -> str:
    """``item`` between ``low`` and ``high`` times (unbounded when ``high`` is None)."""
    if high is not None and high < low:
        raise ConfigError(f"schema asks for at least {low} and at most {high} items")
    if high == 0:
        return ""
    body = item
    if high != 1:
        sep = f"{separator} " if separator else ""
        count = "*" if high is None else f"{{{max(low - 1, 0)},{high - 1}}}"
        body = f"{item} ( {sep}{item} ){count}"
    return body if low > 0 else f"( {body} )?"


def _uint_upto(n: int) -> str:
    """Whole numbers from 0 to ``n`` written without leading zeros."""
    digits = str(n)
    alternatives = ["[0-9]"] if len(digits) > 1 else []
    alternatives += ["[1-9]" + " [0-9]" * (length - 1) for length in range(2, len(digits))]
    for i, char in enumerate(digits):
        low = 1 if i == 0 and len(digits) > 1 else 0
        if int(char) > low:
            prefix = f"{_literal(digits[:i])} " if i else ""
            tail = " [0-9]" * (len(digits) - i - 1)
            alternatives.append(f"{prefix}[{low}-{int(char) - 1}]{tail}")
    alternatives.append(_literal(digits))
    return "( " + " | ".join(alternatives) + " )"


class _Converter:
    def __init__(
        self,
        schema: Mapping[str, Any],
        max_items: int | None,
        max_string: int | None,
        fraction_digits: int,
    ) -> None:
        self.defs: Mapping[str, Any] = schema.get("$defs") or schema.get("definitions") or {}
        self.max_items = max_items
        self.max_string = max_string
        self.fraction_digits = max(fraction_digits, 1)
        self.rules: dict[str, str] = {}
        self.needs_json = False

    def grammar(self, root: str) -> str:
        lines = [f"root ::= {root}"] if root != "root" else []
        lines += [f"{name} ::= {body}" for name, body in self.rules.items()]
        lines += [_WS, _CHAR]
        if self.needs_json:
            lines += _JSON_VALUE
        return "\n".join(lines) + "\n"

    def _rule(self, name: str, body: str) -> str:
        base = re.sub(r"[^a-zA-Z0-9-]+", "-", name).strip("-").lower() or "r"
        unique, n = base, 1
        while unique in self.rules:
            n += 1
            unique = f"{base}{n}"
        self.rules[unique] = body
        return unique

    def _ref(self, ref: str) -> str:
        prefix = "#/$defs/" if ref.startswith("#/$defs/") else "#/definitions/"
        key = ref[len(prefix) :] if ref.startswith(prefix) else None
        if key is None or key not in self.defs:
            raise ConfigError(f"unsupported or unknown $ref in the answer schema: {ref}")
        name = "def-" + re.sub(r"[^a-zA-Z0-9-]+", "-", key).lower()
        if name not in self.rules:
            self.rules[name] = ""  # reserve first: recursive schemas refer back to it
            self.rules[name] = self._body(self.defs[key], name)
        return name

    def visit(self, schema: Mapping[str, Any], name: str) -> str:
        """The rule name (or a short inline expression) matching ``schema``."""
        if "$ref" in schema:
            return self._ref(str(schema["$ref"]))
        return self._rule(name, self._body(schema, name))

    def _body(self, schema: Mapping[str, Any], name: str) -> str:
        if "$ref" in schema:
            return self._ref(str(schema["$ref"]))
        if "const" in schema:
            return _json_literal(schema["const"])
        if "enum" in schema:
            return " | ".join(_json_literal(value) for value in schema["enum"])
        options = schema.get("anyOf") or schema.get("oneOf")
        if options:
            parts = [self.visit(option, f"{name}-{i}") for i, option in enumerate(options)]
            return " | ".join(parts)
        kind = schema.get("type")
        if isinstance(kind, list):
            parts = [self.visit({**schema, "type": k}, f"{name}-{k}") for k in kind]
            return " | ".join(parts)
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(schema, name)
        if kind == "array":
            return self._array(schema, name)
        if kind == "string":
            return self._string(schema)
        if kind in ("number", "integer"):
            return self._number(schema, integer=kind == "integer")
        if kind == "boolean":
            return '"true" | "false"'
        if kind == "null":
            return '"null"'
        if kind is None:
            self.needs_json = True
            return "json-value"
        raise ConfigError(f"unsupported type in the answer schema: {kind!r}")

    def _object(self, schema: Mapping[str, Any], name: str) -> str:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        if not properties:
            self.needs_json = True
            return "json-object"
        pairs = []
        for key, value in properties.items():
            rule = self.visit(value, f"{name}-{key}")
            pairs.append(f"{_json_literal(key)} ws \":\" ws {rule}")
        return '"{" ws ' + ' ws "," ws '.join(pairs) + ' ws "}"'

    def _array(self, schema: Mapping[str, Any], name: str) -> str:
        item = self.visit(schema.get("items") or {}, f"{name}-item")
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems", self.max_items)
        inner = _repeat(item, low, None if high is None else int(high), separator='ws "," ws')
        return f'"[" ws {inner} ws "]"' if inner else '"[" ws "]"'

    def _string(self, schema: Mapping[str, Any]) -> str:
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength", self.max_string)
        if high is None:
            chars = "char*" if low == 0 else f"char{{{low},}}"
        else:
            chars = f"char{{{low},{max(int(high), low)}}}"
        return f'"\\"" {chars} "\\""'

    def _number(self, schema: Mapping[str, Any], *, integer: bool) -> str:
        low, high = schema.get("minimum"), schema.get("maximum")
        fraction = "" if integer else f' ( "." [0-9]{{1,{self.fraction_digits}}} )?'
        zeros = "" if integer else f' ( "." "0"{{1,{self.fraction_digits}}} )?'
        whole = (
            isinstance(low, (int, float))
            and isinstance(high, (int, float))
            and float(low).is_integer()
            and float(high).is_integer()
            and low <= 0 <= high
        )
        if not whole:
            return '"-"? ( "0" | [1-9] [0-9]{0,15} )' + fraction
        assert isinstance(low, (int, float)) and isinstance(high, (int, float))
        alternatives = []
        for sign, bound in (("", int(high)), ('"-" ', -int(low))):
            if bound == 0 and sign:
                continue
            below = f"{_uint_upto(bound - 1)}{fraction}" if bound > 0 else None
            exact = f"{_literal(str(bound))}{zeros}"
            magnitude = f"( {below} | {exact} )" if below else exact
            alternatives.append(f"{sign}{magnitude}")
        return " | ".join(alternatives)


def closing_reserve(schema: Mapping[str, Any], *, slack: int = 8) -> int:
    """Characters (hence at most this many tokens) that always suffice to finish an answer
    from anywhere inside it, writing the shortest values (``null``, ``""``, ``[]``...).

    Constrained decoding switches to finishing the answer when the token budget left
    falls to this, so that the answer closes before ``max_tokens`` cuts it off.
    """
    defs: Mapping[str, Any] = schema.get("$defs") or schema.get("definitions") or {}

    def size(node: Mapping[str, Any], depth: int) -> int:
        if depth > 16:  # a recursive schema: the innermost levels close with null
            return 4
        ref = node.get("$ref")
        if isinstance(ref, str):
            return size(defs.get(ref.rsplit("/", 1)[-1], {}), depth + 1)
        if "const" in node:
            return len(json.dumps(node["const"], ensure_ascii=False))
        if "enum" in node:
            return max(len(json.dumps(v, ensure_ascii=False)) for v in node["enum"])
        options = node.get("anyOf") or node.get("oneOf")
        if options:
            return max(size(option, depth + 1) for option in options)
        kind = node.get("type")
        if isinstance(kind, list):
            return max(size({**node, "type": k}, depth + 1) for k in kind)
        properties: Mapping[str, Any] = node.get("properties") or {}
        if kind == "object" and properties:
            pairs = [len(json.dumps(k)) + 1 + size(v, depth + 1) for k, v in properties.items()]
            return 2 + sum(pairs) + len(pairs) - 1
        if kind == "array":
            count = max(int(node.get("minItems", 0)), 1)
            return 2 + count * (size(node.get("items") or {}, depth + 1) + 1)
        if kind == "string":
            return 2 + int(node.get("minLength", 0))
        if kind in ("number", "integer"):
            return 3
        if kind == "boolean":
            return 5
        return 4  # null, or a free-form value closed with null

    return size(schema, 0) + slack
