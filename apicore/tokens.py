"""Token authentication: hashed, expiring, revocable tokens (``Authorization: Token <secret>``)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from trials.models import ApiToken
from trials.models.tokens import token_hash

DEFAULT_TOKEN_LIFETIME_HOURS = 12


def token_lifetime() -> dt.timedelta:
    hours = getattr(settings, "API_TOKEN_LIFETIME_HOURS", DEFAULT_TOKEN_LIFETIME_HOURS)
    return dt.timedelta(hours=float(hours))


@transaction.atomic
def api_token_issue(*, user) -> tuple[str, ApiToken]:
    """Create a token for ``user``; returns the secret (shown once) and the stored row (hash only)."""
    secret = ApiToken.new_secret()
    token = ApiToken.objects.create(user=user, key_hash=token_hash(secret), expires_at=timezone.now() + token_lifetime())
    return secret, token


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


class HashedTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <secret>``; looks the secret up by its SHA-256 hash."""

    keyword = "Token"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: use 'Token <token>'.")
        try:
            secret = parts[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token characters.") from exc
        token = ApiToken.objects.usable().select_related("user").filter(key_hash=token_hash(secret)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class HashedTokenScheme(OpenApiAuthenticationExtension):
    target_class = HashedTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>` from `POST /api/v1/auth/token/`. Tokens expire and can be revoked.",
        }
