"""Template tags of the data-management pages: the open-queries panel of the coordinator worklist."""

from __future__ import annotations

from django import template

from trials.web.data_management import open_queries_for

register = template.Library()


@register.inclusion_tag("trials/data_management/_open_queries.html", takes_context=True)
def open_queries_panel(context):
    user = context["request"].user
    return {"queries": open_queries_for(user)}
