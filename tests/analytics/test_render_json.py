"""result.json's text: the fast canonical encoder (analytics.render.files.canonical_json) and the document assembled
from one encoding of each top-level value give exactly json.dumps's bytes (issue 17: render CPU)."""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.render.files import canonical_json, numbers_json, result_document, result_json_text


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


class Sequence(list):
    pass


AWKWARD_TEXT = st.text(alphabet=st.sampled_from(list('ab{}[]",:\\\n\t é−≥\x00\x1f\u2028😀')), max_size=8)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | AWKWARD_TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(AWKWARD_TEXT, inner, max_size=5)
        | st.dictionaries(st.integers(), inner, max_size=3)
    ),
    max_leaves=40,
)
AWKWARD = [
    {},
    [],
    {"a": {}, "b": [], "c": [{}], "d": [[]], "e": {"f": {}}},
    {"metadata": 1, "a": 2},
    {"Ä": "é−≥", "z": ["{", "[", "}", "]", '"', "\\", "\n"]},
    {"a": {"{": 1, "[": [1.5, -0.0, 1e16, 1e-7, 2**70]}},
    {"ints": {10: "a", -2: "b", 2**70: "c"}, "floats": {2.5: "a", -0.0: "b"}, "bools": {True: "a", False: "b"}},
    {None: "null key"},
    {"x": (1, 2, (3,)), "y": OrderedDict([("b", 1), ("a", 2)])},
    {"y": OrderedDict([("b", 1), ("a", 2)]), "z": 1},  # a dict subclass among scalars
    [Sequence([1, 2]), "x"],  # a list subclass among scalars
    {"nested": [{"day": 1.0, "estimate": 0.5, "ci_low": None, "ci_high": True}] * 3},
    "text",
    1.5,
    None,
]


@pytest.mark.parametrize("value", AWKWARD)
@pytest.mark.parametrize("level", [0, 1, 3])
def test_canonical_json_is_json_dumps(value, level):
    assert canonical_json(value, level) == dumps(value).replace("\n", "\n" + "  " * level)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_canonical_json_is_json_dumps_on_any_value(value):
    assert canonical_json(value) == dumps(value)


METADATA = {"generated_at": "2026-07-01T00:00:00+00:00", "run_id": 3, "code_version": "abc", "requested_by": None}


@pytest.mark.parametrize(
    "numbers",
    [
        {},
        {"a": 1},
        {"zz": {"x": []}},  # a key after "metadata"
        {"aa": {}, "metadata": {"overwritten": True}, "zz": [1]},  # the document's metadata replaces the numbers'
        {"l": [], "m": {}, "met": "é", "metadatb": [{}, []]},  # keys sorting right beside "metadata"
        {"Ärger": "−", "a": [1.5, None, True]},
    ],
)
def test_result_json_text_is_the_documents_dump(numbers):
    assert result_json_text(numbers, METADATA) == dumps(result_document(numbers, METADATA))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(AWKWARD_TEXT | st.sampled_from(["metadata", "metadat", "metadataa", "n"]), VALUES, max_size=6))
def test_result_json_text_is_the_documents_dump_on_any_numbers(numbers):
    assert result_json_text(numbers, METADATA) == dumps(result_document(numbers, METADATA))


def test_the_metadata_carries_the_sha256_of_the_numbers_json():
    numbers = {"b": [1.5, {"c": None}], "a": "x"}
    document = json.loads(result_json_text(numbers, METADATA))
    assert document["metadata"]["numbers_sha256"] == result_document(numbers, METADATA)["metadata"]["numbers_sha256"]
    assert numbers_json(numbers) == dumps(numbers)


class Unknown:
    pass


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ({"a": [1.0, float("nan")]}, ValueError, "Out of range float values are not JSON compliant: nan"),
        ({"a": {"b": float("inf")}}, ValueError, "Out of range float values are not JSON compliant: inf"),
        ({"a": [Unknown()]}, TypeError, "Object of type Unknown is not JSON serializable"),
        ({"a": {(1, 2): 3}}, TypeError, "keys must be str, int, float, bool or None, not tuple"),
        ({"a": {1: 2, "b": 3}}, TypeError, "'<' not supported"),
    ],
)
def test_canonical_json_raises_jsons_errors(value, error, message):
    with pytest.raises(error, match=message):
        dumps(value)
    with pytest.raises(error, match=message):
        canonical_json(value)


def test_canonical_json_raises_on_a_circular_reference():
    value: dict = {"a": []}
    value["a"].append(value)
    with pytest.raises(ValueError, match="Circular reference detected"):
        canonical_json(value)
