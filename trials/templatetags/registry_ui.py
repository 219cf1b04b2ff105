"""Template filters that keep internal codes off the pages (issue 11 item 9)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def human(code) -> str:
    """'not_applicable' -> 'Not applicable'; a status or code shown as words, never with underscores."""
    text = str(getattr(code, "value", code) or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:]
