"""Instruments as data (issue 15 §1; docs/pro.md "Instruments").

An instrument is a JSON document (``schema.json`` here, JSON Schema 2020-12, checked with ``jsonschema``) plus the
rules JSON Schema cannot say (``validate_definition``): every scale an item names exists, every scoring rule names
real items, and every language marked ``validated`` has text for every item, option, anchor and title.

The shipped instruments are the files in this folder (``SHIPPED``): the BPI short form and the opioid self-report,
in English. Other languages: **validated translations are loaded by the site, not invented.** A language the
definition lists as ``placeholder`` (Spanish in the shipped files) has no text and is not offered to patients until a
site loads its licensed translation with ``load_translation`` (``manage.py pro_instrument_load --translation``),
which checks that the translation covers every text and then marks the language ``validated``.

Answers are ``{item code: value}``; a repeating group's value is a list of ``{item code: value}``.
``validate_answers`` checks them against the scales (partial answers allowed while a draft is saved).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import jsonschema

HERE = Path(__file__).resolve().parent
SHIPPED = ("bpi_sf", "opioid_self_report")  # files <code>.json in this folder


class InstrumentError(ValueError):
    """An instrument definition or translation breaks a rule; the message names the place and the rule."""


@cache
def schema() -> dict:
    return json.loads((HERE / "schema.json").read_text(encoding="utf-8"))


def shipped_definition(code: str) -> dict:
    """The definition shipped in ``pro/instruments/<code>.json`` (a fresh copy)."""
    return copy.deepcopy(_shipped(code))


@cache
def _shipped(code: str) -> dict:
    return json.loads((HERE / f"{code}.json").read_text(encoding="utf-8"))


def validated_languages(definition: dict) -> list[str]:
    """Languages patients may be offered: those marked ``validated``, in the definition's order."""
    return [lang for lang, meta in definition["languages"].items() if meta["status"] == "validated"]


def walk_items(items: list[dict], prefix: str = "") -> Iterator[tuple[str, dict]]:
    """Every item, nested ones included, as (path, item); a nested path is ``group.item``."""
    for item in items:
        path = f"{prefix}{item['code']}"
        yield path, item
        if "items" in item:
            yield from walk_items(item["items"], prefix=f"{path}.")


def _texts(definition: dict) -> Iterator[tuple[str, dict]]:
    """Every translatable text of a definition as (where, {language: text})."""
    for key in ("recall_period", "instructions"):
        if key in definition:
            yield key, definition[key]
    for group in definition.get("groups", []):
        yield f"groups.{group['code']}.title", group["title"]
        if "instructions" in group:
            yield f"groups.{group['code']}.instructions", group["instructions"]
    for name, scale in definition["scales"].items():
        for value, text in scale.get("anchors", {}).items():
            yield f"scales.{name}.anchors.{value}", text
        for option in scale.get("options", []):
            yield f"scales.{name}.options.{option['value']}", option["text"]
    for path, item in walk_items(definition["items"]):
        yield f"items.{path}.text", item["text"]
        if "help" in item:
            yield f"items.{path}.help", item["help"]
    for rule in definition.get("scoring", []):
        if "label" in rule:
            yield f"scoring.{rule['code']}.label", rule["label"]


def validate_definition(definition: dict) -> None:
    """Raise ``InstrumentError`` naming the first broken rule (JSON Schema, then the cross-references)."""
    try:
        jsonschema.validate(definition, schema(), cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise InstrumentError(f"{where}: {exc.message}") from exc
    scales = definition["scales"]
    codes: set[str] = set()
    for path, item in walk_items(definition["items"]):
        if path in codes:
            raise InstrumentError(f"items.{path}: item codes must be unique")
        codes.add(path)
        if "scale" in item and item["scale"] not in scales:
            raise InstrumentError(f"items.{path}: scale '{item['scale']}' is not defined in 'scales'")
        shown_if = item.get("shown_if")
        if shown_if and shown_if["item"] not in codes:
            raise InstrumentError(f"items.{path}: shown_if names '{shown_if['item']}', which must be an earlier item")
    for rule in definition.get("scoring", []):
        unknown = [code for code in rule["items"] if code not in codes]
        if unknown:
            raise InstrumentError(f"scoring.{rule['code']}: unknown items {unknown}")
        if rule.get("min_answered", 1) > len(rule["items"]):
            raise InstrumentError(f"scoring.{rule['code']}: min_answered exceeds the number of items")
    groups = {g["code"] for g in definition.get("groups", [])}
    for path, item in walk_items(definition["items"]):
        if "group" in item and item["group"] not in groups:
            raise InstrumentError(f"items.{path}: group '{item['group']}' is not defined in 'groups'")
    languages = validated_languages(definition)
    if not languages:
        raise InstrumentError("languages: at least one language must be 'validated'")
    for where, text in _texts(definition):
        for lang in languages:
            if not text.get(lang):
                raise InstrumentError(f"{where}: no '{lang}' text, but '{lang}' is marked validated")


def text(value: dict[str, str] | str, language: str, languages: list[str] | None = None) -> str:
    """A definition text in ``language``; the first validated language's text when that language has none.

    ``languages``: the instrument's validated languages (first = fallback); plain strings are returned as they are.
    Never invents a translation: a missing language falls back to validated text, it is not machine-translated.
    """
    if isinstance(value, str):
        return value
    if language in value:
        return value[language]
    for fallback in languages or []:
        if fallback in value:
            return value[fallback]
    return next(iter(value.values()))


def load_translation(definition: dict, translation: dict) -> dict:
    """The definition with a site-loaded translation merged in (a new dict; ``definition`` is not changed).

    ``translation``: ``{"language": "es", "source": "<licence / validation reference>",
    "texts": {where: text}}`` where each ``where`` is a key of the definition's texts (e.g.
    ``items.worst.text``, ``scales.pain_0_10.anchors.0``; ``translation_template`` lists them all). Every text must
    be covered; the language becomes ``validated`` with the given source. Raises ``InstrumentError``.
    """
    language = translation.get("language", "")
    source = (translation.get("source") or "").strip()
    texts = translation.get("texts") or {}
    if not language or not isinstance(texts, dict):
        raise InstrumentError("translation: 'language' and 'texts' are required")
    if not source:
        raise InstrumentError("translation: 'source' is required (the licence or validation reference of the translation)")
    merged = copy.deepcopy(definition)
    wanted = dict(_texts(merged))
    missing = [where for where in wanted if not str(texts.get(where, "")).strip()]
    if missing:
        raise InstrumentError(f"translation '{language}': missing text for {missing[:5]}" + (" …" if len(missing) > 5 else ""))
    unknown = sorted(set(texts) - set(wanted))
    if unknown:
        raise InstrumentError(f"translation '{language}': unknown keys {unknown[:5]}")
    for where, value in wanted.items():
        value[language] = texts[where]  # the dicts of `merged` itself, so this writes into it
    merged["languages"][language] = {"status": "validated", "source": source}
    validate_definition(merged)
    return merged


def translation_template(definition: dict, language: str) -> dict:
    """A translation file to fill in: every text key with the first validated language's text as a reminder."""
    base = validated_languages(definition)[0]
    return {
        "language": language,
        "source": "",
        "texts": {where: f"TODO translate: {value.get(base, '')}" for where, value in _texts(definition)},
    }


def _check_value(where: str, scale: dict, value) -> str | None:
    if scale["type"] == "choice":
        allowed = [o["value"] for o in scale["options"]]
        return None if value in allowed else f"{where}: must be one of {allowed}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{where}: must be a number"
    if not scale["min"] <= value <= scale["max"]:
        return f"{where}: must be between {scale['min']:g} and {scale['max']:g}"
    step = scale.get("step")
    if step and abs(round((value - scale["min"]) / step) * step - (value - scale["min"])) > 1e-9:
        return f"{where}: must be in steps of {step:g}"
    return None


def _shown(item: dict, answers: dict) -> bool:
    cond = item.get("shown_if")
    return cond is None or answers.get(cond["item"]) == cond["equals"]


def validate_answers(definition: dict, answers: dict, *, complete: bool = False) -> dict[str, str]:
    """Errors by item path ({} when valid). Unknown items, out-of-scale values, too many repeats are errors;
    with ``complete=True`` (submission) required items that are shown must be answered. ``None`` = unanswered."""
    errors: dict[str, str] = {}
    if not isinstance(answers, dict):
        return {"answers": "must be an object of item codes to values"}
    scales = definition["scales"]

    def check(items: list[dict], given: dict, prefix: str) -> None:
        known = {item["code"] for item in items}
        for code in given:
            if code not in known:
                errors[f"{prefix}{code}"] = f"{prefix}{code}: not an item of this questionnaire"
        for item in items:
            path, value = f"{prefix}{item['code']}", given.get(item["code"])
            if not _shown(item, given):
                if value not in (None, [], ""):
                    errors[path] = f"{path}: not asked with the answer given to '{item['shown_if']['item']}'"
                continue
            if value is None:
                if complete and item.get("required"):
                    errors[path] = f"{path}: an answer is required"
                continue
            if "items" in item:
                if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                    errors[path] = f"{path}: must be a list of entries"
                    continue
                if len(value) > item["repeat_max"]:
                    errors[path] = f"{path}: at most {item['repeat_max']} entries"
                if complete and not value:
                    errors[path] = f"{path}: add at least one entry"
                for i, entry in enumerate(value):
                    check(item["items"], entry, f"{path}.{i}.")
                continue
            problem = _check_value(path, scales[item["scale"]], value)
            if problem:
                errors[path] = problem

    check(definition["items"], answers, "")
    return errors


def install(model, definition: dict, *, shipped: bool = False):
    """Create or update the ``model`` (``pro.models.Instrument``, or its historical version in a migration) row of
    ``definition``'s code and version and make it the active version of its code. Validates first
    (``InstrumentError``). Returns the row."""
    validate_definition(definition)
    code, version = definition["code"], str(definition["version"])
    model.objects.filter(code=code, active=True).exclude(version=version).update(active=False)
    row, _ = model.objects.update_or_create(
        code=code,
        version=version,
        defaults={
            "name": definition["name"],
            "definition": definition,
            "languages": validated_languages(definition),
            "active": True,
            "shipped": shipped,
        },
    )
    return row


def install_shipped(model) -> list:
    """Install every shipped definition (``SHIPPED``) — the data migration and ``pro_instrument_load --shipped``.

    A site's loaded translations are kept: languages the database row already has as validated are merged back."""
    rows = []
    for code in SHIPPED:
        definition = shipped_definition(code)
        existing = model.objects.filter(code=code, version=str(definition["version"])).first()
        if existing is not None:
            definition = _keep_site_translations(definition, existing.definition)
        rows.append(install(model, definition, shipped=True))
    return rows


def _keep_site_translations(shipped: dict, current: dict) -> dict:
    merged = shipped
    for language in validated_languages(current):
        if language in validated_languages(shipped):
            continue
        texts = {where: value[language] for where, value in _texts(current) if language in value}
        try:
            merged = load_translation(
                merged, {"language": language, "source": current["languages"][language]["source"], "texts": texts}
            )
        except InstrumentError:
            continue  # the shipped text changed shape: the site must re-load its translation
    return merged
