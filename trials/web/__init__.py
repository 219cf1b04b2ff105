"""Server-rendered web UI for coordinators, investigators and data managers (issue 5).

Views are thin: reads go through ``trials.web.selectors`` (scoped with
``trials.access.scope_queryset``), writes through ``trials.services``.
"""
