"""Canonical JSON text: ``json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)``'s exact
bytes in about half its CPU (issue 17: render CPU), for result.json and the numbers' sha256 (analytics.render.files).

CPython's json uses its C encoder only without indentation; with ``indent=2`` every value goes through the pure-Python
encoder. Here each container whose items are all scalars is handed to json's C encoder as one call (its separators
give the indented lines), and only the nesting is walked in Python. Anything json would reject, or a type it would
handle differently, takes ``json.dumps`` itself (``tests/analytics/test_render_json.py``: awkward values, hypothesis).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

JSON_INDENT = "  "  # json.dumps(indent=2)
_NONFINITE = frozenset({"nan", "inf", "-inf"})


def _json_float(value: float) -> str:
    text = float.__repr__(value)
    if text in _NONFINITE:
        raise ValueError(f"Out of range float values are not JSON compliant: {text}")
    return text


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _json_float(key)
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _json_scalar(value: Any) -> str | None:
    """The JSON text of a str, int or float (None for anything else: the caller takes the general path)."""
    kind = type(value)
    if kind is float:
        text = float.__repr__(value)
        if text in _NONFINITE:
            raise ValueError(f"Out of range float values are not JSON compliant: {text}")
        return text
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return encode_basestring(value)
    return None


_CONTAINERS = frozenset({dict, list, tuple})


@functools.cache
def _flat_encoder(inner: str) -> Callable[[Any, int], list[str]] | None:
    """json's C encoder (the one ``json.dumps`` uses without ``indent``) with ``",\\n" + indent`` between items:
    for a container of scalars only, the same items as the indenting encoder gives, in C."""
    if c_make_encoder is None:
        return None
    return c_make_encoder(None, None, encode_basestring, None, ": ", "," + inner, True, False, False)


def _json_flat(value: Any, inner: str, items: Any = None) -> str | None:
    """``value`` (a list, or a dict with its ``items``' values) encoded by ``_flat_encoder`` when none of them is
    a dict, list or tuple (else None). Its text is right only if it holds no container: the caller checks that
    (a dict or list subclass passes the type test but writes a bracket)."""
    encoder = _flat_encoder(inner)
    if encoder is None or not _CONTAINERS.isdisjoint(map(type, value if items is None else items)):
        return None
    return "".join(encoder(value, 0))


def _json_chunks(value: Any, newline: str, out: Callable[[str], object]) -> None:
    """Append to ``out`` the text ``json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False,
    allow_nan=False)`` gives ``value`` nested where its lines start with ``newline``: the same type tests in the
    same order as json's encoder, but one call per container instead of a generator chain as deep as the nesting,
    which hands every token up through each level, and a dict item or list element of plain str, int or float
    written in one piece (issue 17: json's indenting encoder is pure Python)."""
    if isinstance(value, str):
        out(encode_basestring(value))
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, int):
        out(int.__repr__(value))
    elif isinstance(value, float):
        out(_json_float(value))
    elif isinstance(value, (list, tuple)):
        if not value:
            out("[]")
            return
        inner = newline + JSON_INDENT
        text = _json_flat(value, inner)
        if text is not None and "{" not in text and text.find("[", 1) < 0:  # no container inside
            out("[" + inner + text[1:-1] + newline + "]")
            return
        separator = "[" + inner
        for item in value:
            text = _json_scalar(item)
            if text is None:
                out(separator)
                _json_chunks(item, inner, out)
            else:
                out(separator + text)
            separator = "," + inner
        out(newline + "]")
    elif isinstance(value, dict):
        if not value:
            out("{}")
            return
        inner = newline + JSON_INDENT
        text = _json_flat(value, inner, value.values())
        if text is not None and "[" not in text and text.find("{", 1) < 0:  # no container inside
            out("{" + inner + text[1:-1] + newline + "}")
            return
        separator = "{" + inner
        for key, item in sorted(value.items()):
            name = encode_basestring(key if type(key) is str else _json_key(key))
            text = _json_scalar(item)
            if text is None:
                out(f"{separator}{name}: ")
                _json_chunks(item, inner, out)
            else:
                out(f"{separator}{name}: {text}")
            separator = "," + inner
        out(newline + "}")
    else:
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def reference_dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any, level: int = 0) -> str:
    """``json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)``, the same text in
    half the CPU (the numbers of a 100,000-patient run: 0.15 s instead of 0.28 s); with ``level``, as it appears
    nested ``level`` containers deep (its inner lines indented ``2 * level`` more). A value json rejects (NaN, a
    circular reference, an unknown type) raises json's own error."""
    parts: list[str] = []
    try:
        _json_chunks(value, "\n" + JSON_INDENT * level, parts.append)
    except (TypeError, ValueError, RecursionError):
        return reference_dumps(value).replace("\n", "\n" + JSON_INDENT * level)  # raises json's error
    return "".join(parts)


def object_pieces(chunks: list[tuple[str, str]]) -> Iterator[str]:
    """The text of a top-level object from its ``(key, value text at level 1)`` pairs, in key order, as pieces to
    write or hash one after the other (the whole text is never built: issue 17, worker memory)."""
    if not chunks:
        yield "{}"
        return
    separator = "{\n"
    for key, text in chunks:
        yield f"{separator}{JSON_INDENT}{encode_basestring(key)}: "
        yield text
        separator = ",\n"
    yield "\n}"
