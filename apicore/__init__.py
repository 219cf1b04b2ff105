"""The API plumbing shared by every app under ``/api/v1/`` (trials' records and data management, analytics' report runs).

- ``views.ApiViewMixin``: authentication (hashed tokens, session), throttles, JSON in and out;
- ``tokens`` and ``auth_views``: hashed, expiring, revocable tokens and ``POST /api/v1/auth/token/``;
- ``throttling``: per-user, per-address and login rates read from settings at request time;
- ``pagination``: the cursor pagination of every list;
- ``errors``: the one JSON error shape, the exception handler and the API's 404;
- ``etags``: ETag / If-Match / If-None-Match;
- ``parsers``: the JSON parser with its depth limit;
- ``permissions``: role checks (row scoping stays in ``trials.access.scope_queryset``);
- ``schema``: OpenAPI generation (error shapes, conditional headers, roles).

It depends on ``trials.access``, ``trials.models`` (``ApiToken``) and ``trials.errors`` only — never on an app's API
or web layer (``lint-imports``); the URL list of ``/api/v1/`` is composed in ``config/api_urls.py``.
"""
