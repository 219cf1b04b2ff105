"""Authentication backend matching usernames case-insensitively (demo logins are typed by hand)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class CaseInsensitiveModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        matches = list(get_user_model()._default_manager.filter(username__iexact=username)[:2])
        if len(matches) == 1:
            return super().authenticate(request, username=matches[0].username, password=password)
        return super().authenticate(request, username=username, password=password)
