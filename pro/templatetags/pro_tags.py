"""``{% overdue_questionnaires_panel %}``: the coordinator worklist's list of overdue questionnaires."""

from __future__ import annotations

from django import template

register = template.Library()
PANEL_LIMIT = 50


@register.inclusion_tag("pro/_overdue_panel.html", takes_context=True)
def overdue_questionnaires_panel(context) -> dict:
    from pro.selectors import overdue_invitations

    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"overdue_questionnaires": []}
    rows = list(overdue_invitations(request.user)[: PANEL_LIMIT + 1])
    return {"overdue_questionnaires": rows[:PANEL_LIMIT], "overdue_more": len(rows) > PANEL_LIMIT}
