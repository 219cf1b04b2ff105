"""REST API v1 (issue 4): scoped reads and service-backed writes, de-identified sponsor views.

Every queryset comes from ``trials.access.scope_queryset``; every write calls a
``trials.services`` function. Serializers translate, they do not decide.
"""
