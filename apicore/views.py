"""The mixin of every API view: authentication, throttling, JSON in and out."""

from __future__ import annotations

from collections.abc import Sequence

from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.throttling import BaseThrottle

from apicore.parsers import RegistryJSONParser
from apicore.throttling import AnonymousRateThrottle, TokenUserRateThrottle
from apicore.tokens import HashedTokenAuthentication


class ApiViewMixin:
    """Authentication, throttling, JSON in and out — shared by every API view."""

    authentication_classes: Sequence[type[BaseAuthentication]] = [HashedTokenAuthentication, SessionAuthentication]
    throttle_classes: Sequence[type[BaseThrottle]] = [TokenUserRateThrottle, AnonymousRateThrottle]
    parser_classes: Sequence[type[BaseParser]] = [RegistryJSONParser]
    renderer_classes: Sequence[type[BaseRenderer]] = [JSONRenderer]
