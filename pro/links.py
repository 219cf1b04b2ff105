"""The patient's link: ``PRO_PUBLIC_BASE_URL`` + the questionnaire page's path for a token."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.urls import NoReverseMatch, reverse

# The patient's page is mounted at /q/<token>/ (URL name "pro_patient_start", pro/patient/urls.py); used when that
# name is not routed.
PATIENT_PATH = "/q/{token}/"
_MARKER = "T" * 43  # a token's shape (43 URL-safe characters), never a real token: replaced in url_maker


def patient_path(token: str) -> str:
    """Path of the questionnaire page for ``token`` (no host)."""
    try:
        return reverse("pro_patient_start", kwargs={"token": token})
    except NoReverseMatch:
        return PATIENT_PATH.format(token=token)


def patient_url(token: str) -> str:
    """Absolute link for e-mails and QR codes."""
    return settings.PRO_PUBLIC_BASE_URL.rstrip("/") + patient_path(token)


def url_maker() -> Callable[[str], str]:
    """``patient_url`` for many tokens: the URL is reversed once (for a marker token), then each link is the same
    string with the token in the marker's place — no URL resolution per message."""
    head, tail = patient_url(_MARKER).split(_MARKER, 1)
    return lambda token: f"{head}{token}{tail}"
