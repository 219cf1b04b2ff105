"""The steps of the patient's questionnaire page (issue 15 §4): one item group per step, built from the
instruments of an invitation (``pro.models.Instrument`` definitions, text per language), then a review step.

A step is one ``group`` of an instrument (the BPI's intensity, relief and interference), or, for items without a
group, one item (the opioid question; the repeating list of medicines is a step of its own, shown only when its
``shown_if`` condition holds). Answers are parsed from the step's form fields (``field_name``) and checked with
the instrument's own rules (``pro.instruments.validate_answers``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from pro import instruments as definitions
from pro.models import Instrument

BLANK_ROWS = 1  # empty medicine rows offered after the entered ones


@dataclass(frozen=True)
class Choice:
    value: Any
    label: str
    description: str = ""  # an anchor's text ("No pain") shown with the number


@dataclass
class Question:
    """One item as the page shows it."""

    code: str
    text: str
    kind: str  # "scale" (radio buttons of numbers), "choice" (radio buttons of options), "number" (a number input)
    choices: list[Choice] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    unit: str = ""
    required: bool = False
    value: Any = None
    error: str = ""
    anchors: str = ""  # "0 = No pain, 10 = Pain as bad as you can imagine"
    field: str = ""  # the form field name (``field_name``), set when the page is drawn


@dataclass
class Step:
    """One page of the questionnaire: an instrument's item group, or one ungrouped item."""

    index: int
    instrument: Instrument
    title: str
    instructions: str
    item_codes: list[str]
    repeating: dict | None = None  # the repeating item (medicines) when the step is that list
    shown_if: dict | None = None


def _text(instrument: Instrument, value, language: str) -> str:
    return instrument.text(value, language) if value else ""


def steps_of(instrument_list: list[Instrument], language: str) -> list[Step]:
    """Every step of the invitation's instruments in order (groups in definition order, then ungrouped items)."""
    steps: list[Step] = []
    for instrument in instrument_list:
        definition = instrument.definition
        for group in definition.get("groups", []):
            codes = [i["code"] for i in definition["items"] if i.get("group") == group["code"]]
            if codes:
                steps.append(
                    Step(
                        len(steps),
                        instrument,
                        _text(instrument, group.get("title"), language),
                        _text(instrument, group.get("instructions"), language),
                        codes,
                    )
                )
        for item in definition["items"]:
            if item.get("group"):
                continue
            steps.append(
                Step(
                    len(steps),
                    instrument,
                    _("Your pain medicines") if "items" in item else _("Pain medicine"),
                    _text(instrument, definition.get("instructions"), language) if "items" not in item else "",
                    [item["code"]],
                    repeating=item if "items" in item else None,
                    shown_if=item.get("shown_if"),
                )
            )
    return steps


def step_shown(step: Step, answers_by_instrument: dict[int, dict]) -> bool:
    condition = step.shown_if
    if condition is None:
        return True
    return answers_by_instrument.get(step.instrument.pk, {}).get(condition["item"]) == condition["equals"]


def _question(instrument: Instrument, item: dict, language: str, value: Any) -> Question:
    scale = instrument.definition["scales"][item["scale"]]
    question = Question(
        code=item["code"],
        text=_text(instrument, item["text"], language),
        kind="choice" if scale["type"] == "choice" else "number",
        required=bool(item.get("required")),
        value=value,
        unit=scale.get("unit", ""),
    )
    if scale["type"] == "choice":
        question.choices = [Choice(o["value"], _text(instrument, o["text"], language)) for o in scale["options"]]
        return question
    question.minimum, question.maximum, question.step = scale["min"], scale["max"], scale.get("step")
    anchors = {str(k): _text(instrument, v, language) for k, v in (scale.get("anchors") or {}).items()}
    count = (scale["max"] - scale["min"]) / (scale.get("step") or 1)
    if scale["type"] == "numeric" and count <= 20 and float(count).is_integer():  # a short scale: one button per number
        question.kind = "scale"
        values = [scale["min"] + i * (scale.get("step") or 1) for i in range(int(count) + 1)]
        question.choices = [Choice(_plain(v), f"{_plain(v)}{question.unit}", anchors.get(str(_plain(v)), "")) for v in values]
        question.anchors = ", ".join(f"{k}{question.unit} = {v}" for k, v in anchors.items())
    return question


def _plain(number: float) -> int | float:
    return int(number) if float(number).is_integer() else number


def questions(step: Step, answers: dict, language: str) -> list[Question]:
    """The step's questions with the saved answers filled in (a repeating step: one list of questions per row)."""
    items = {i["code"]: i for i in step.instrument.definition["items"]}
    return [_question(step.instrument, items[code], language, answers.get(code)) for code in step.item_codes]


def repeat_rows(step: Step, answers: dict, language: str, *, extra: int = BLANK_ROWS) -> list[list[Question]]:
    """Rows of a repeating step (the entered entries, then ``extra`` blank ones, up to the item's maximum)."""
    item = step.repeating or {}
    entries = list(answers.get(item.get("code"), None) or [])
    total = min(item.get("repeat_max", 1), len(entries) + extra) if entries or extra else max(1, len(entries))
    rows = []
    for index in range(max(total, 1)):
        entry = entries[index] if index < len(entries) else {}
        rows.append([_question(step.instrument, sub, language, entry.get(sub["code"])) for sub in item["items"]])
    return rows


def field_name(code: str, row: int | None = None) -> str:
    return code if row is None else f"{code}__{row}"


def _parse(question: Question, raw: str) -> tuple[Any, str]:
    """A form value as the instrument stores it (numbers as int/float, options as given); '' = unanswered."""
    raw = (raw or "").strip()
    if raw == "":
        return None, ""
    if question.kind in ("choice", "scale"):
        allowed = {str(c.value): c.value for c in question.choices}
        return (allowed[raw], "") if raw in allowed else (None, _("Choose one of the answers."))
    try:
        number = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        return None, _("Enter a number, for example 10 or 2.5.")
    value = _plain(float(number))
    low, high = question.minimum, question.maximum
    if low is not None and high is not None and not low <= value <= high:
        return None, _("Enter a number from %(min)s to %(max)s.") % {"min": _plain(low), "max": _plain(high)}
    return value, ""


def parse_step(step: Step, post, answers: dict, language: str) -> tuple[dict, dict[str, str]]:
    """The step's posted answers merged into ``answers`` (a new dict), and errors by field name."""
    merged, errors = dict(answers), {}
    if step.repeating:
        entries = []
        for row_index, row in enumerate(repeat_rows(step, answers, language, extra=BLANK_ROWS)):
            entry, row_errors = {}, {}
            for question in row:
                value, error = _parse(question, post.get(field_name(question.code, row_index), ""))
                if error:
                    row_errors[field_name(question.code, row_index)] = error
                if value is not None:
                    entry[question.code] = value
            if entry or row_errors:
                missing = [
                    q for q in row if q.required and q.code not in entry and field_name(q.code, row_index) not in row_errors
                ]
                for question in missing:
                    row_errors[field_name(question.code, row_index)] = _("Answer this question, or clear the whole row.")
                entries.append(entry)
                errors.update(row_errors)
        merged[step.repeating["code"]] = entries
        return merged, errors
    for question in questions(step, answers, language):
        value, error = _parse(question, post.get(field_name(question.code), ""))
        if error:
            errors[field_name(question.code)] = error
        merged[question.code] = value
    if not errors:
        problems = definitions.validate_answers(step.instrument.definition, _without_hidden(step, merged))
        errors.update({code.split(".")[0]: _("This answer is not allowed here.") for code in problems})
    return merged, errors


def _without_hidden(step: Step, answers: dict) -> dict:
    """Answers with the questions the patient's answers hide removed (a 'no' to opioids clears the medicines)."""
    result = {k: v for k, v in answers.items() if v not in (None, "")}
    for item in step.instrument.definition["items"]:
        condition = item.get("shown_if")
        if condition and result.get(condition["item"]) != condition["equals"]:
            result.pop(item["code"], None)
    return result


def clean_answers(instrument: Instrument, answers: dict) -> dict:
    """The answers to store: unanswered items dropped, hidden items cleared (``validate_answers`` shape)."""
    step = Step(0, instrument, "", "", [])
    return _without_hidden(step, answers)
