"""Rate limit of the patient's link (issue 15 §4): guessing tokens is throttled per client address.

Django's cache counts the refused links a client presented in a fixed window (``PRO_LINK_FAILURE_LIMIT`` per
``PRO_LINK_FAILURE_WINDOW_SECONDS``, defaults 20 per 15 minutes). Past the limit every request of that client
to the questionnaire pages is answered 429 — a valid token too — so a guesser cannot tell a hit from a miss
while throttled: 1,000 guesses give at most 20 answers. With 256-bit tokens guessing is hopeless anyway; the
throttle keeps the page from being used as an oracle and the database from being hammered.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

from config.proxies import client_ip


def _key(request) -> str:
    return "pro-link-failures:" + hashlib.sha256(client_ip(request).encode()).hexdigest()


def limit() -> int:
    return int(getattr(settings, "PRO_LINK_FAILURE_LIMIT", 20))


def window_seconds() -> int:
    return int(getattr(settings, "PRO_LINK_FAILURE_WINDOW_SECONDS", 15 * 60))


def link_throttled(request) -> bool:
    """True when this client presented too many refused links in the current window."""
    return int(cache.get(_key(request), 0)) >= limit()


def link_failure_record(request) -> None:
    """Count one refused link for this client (the window starts with its first failure)."""
    key = _key(request)
    if not cache.add(key, 1, timeout=window_seconds()):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window_seconds())
