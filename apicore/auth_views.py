"""``POST /api/v1/auth/token/`` (log in → token) and ``DELETE`` (revoke the token in use)."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apicore.throttling import LoginRateThrottle, TokenUserRateThrottle
from apicore.tokens import api_token_issue, api_token_revoke
from apicore.views import ApiViewMixin
from trials.login_protection import lockout_message, lockout_minutes
from trials.models import ApiToken


class LockedOut(exceptions.Throttled):
    """429: django-axes locked this account or address (trials.login_protection)."""

    default_code = "locked_out"

    def __init__(self):
        super().__init__(wait=lockout_minutes() * 60 or None, detail=lockout_message())


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown once; only its hash is stored.")
    expires = serializers.IntegerField(
        help_text="Expiry as Unix time (seconds since the epoch, UTC). An integer, not a calendar date, "
        "so that no response to a sponsor contains a date-like value."
    )


class TokenView(ApiViewMixin, APIView):
    """Obtain an API token with a username and password, or revoke the token you are using."""

    conditional_requests = False

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_throttles(self):
        return [LoginRateThrottle()] if self.request.method == "POST" else [TokenUserRateThrottle()]

    @extend_schema(
        tags=["auth"],
        auth=[],
        request=LoginSerializer,
        responses={200: TokenSerializer},
        summary="Log in: username and password → token",
        description="Login goes through the project's authentication backends (usernames are case-insensitive). "
        "Attempts are throttled per username and client (429 with Retry-After), and repeated failures lock the "
        "account and the address for all logins, web and API alike (429, code `locked_out`).\n\n**Roles:** any account.",
    )
    def post(self, request):
        login = LoginSerializer(data=request.data)
        login.is_valid(raise_exception=True)
        user = authenticate(request, **login.validated_data)
        if getattr(request, "axes_locked_out", False):
            raise LockedOut()
        if user is None or not user.is_active:
            raise ValidationError({"password": ["Unable to log in with this username and password."]})
        secret, token = api_token_issue(user=user)
        return Response({"token": secret, "expires": int(token.expires_at.timestamp())})

    @extend_schema(
        tags=["auth"],
        request=None,
        responses={204: OpenApiResponse(description="Token revoked.")},
        summary="Revoke the token sent with this request",
        description="**Roles:** any authenticated token holder.",
    )
    def delete(self, request):
        if not isinstance(request.auth, ApiToken):
            raise NotAuthenticated("Send the token to revoke in the Authorization header.")
        api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)
