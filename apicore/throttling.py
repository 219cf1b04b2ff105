"""Throttles whose rates are read at request time from ``REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']``.

DRF's own classes copy the rates at import; reading them per request lets
settings (and tests) change them. Exceeding a rate gives 429 with ``Retry-After``.
The client address is ``config.proxies.client_ip`` (``X-Forwarded-For`` believed only
as far as ``NUM_PROXIES`` says), the same one the login lockout uses.
"""

from __future__ import annotations

import hashlib

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from config.proxies import client_ip


class _SettingsRateThrottle(SimpleRateThrottle):
    def __init__(self):
        # Defer rate parsing to allow_request so overridden settings take effect.
        pass

    def get_ident(self, request) -> str:
        return client_ip(request)

    def allow_request(self, request, view):
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class LoginRateThrottle(_SettingsRateThrottle):
    """Login attempts per username (case-insensitive) and per client address."""

    scope = "login"

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None
        username = str(request.data.get("username", "")).strip().lower() if hasattr(request.data, "get") else ""
        # Hashed: usernames may hold characters a cache key must not.
        ident = hashlib.sha256(f"{username}|{self.get_ident(request)}".encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TokenUserRateThrottle(_SettingsRateThrottle):
    """Requests per authenticated user (all of a user's tokens share the budget)."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AnonymousRateThrottle(_SettingsRateThrottle):
    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
