"""Template tags of the data-management pages: the open-queries panel of the coordinator worklist."""

from __future__ import annotations

from django import template

from trials.web.labels import record_field_label
from trials.web.selectors.data_queries import open_queries_for

register = template.Library()


@register.inclusion_tag("trials/data_management/_open_queries.html", takes_context=True)
def open_queries_panel(context):
    user = context["request"].user
    return {"queries": open_queries_for(user)}


@register.filter
def query_field(query) -> str:
    """'Brief Pain Inventory: Worst pain in the last 24 hours' for a query, never 'painassessment.worst'."""
    return record_field_label(query.content_type.model, query.field_name)
