"""The patient's link: ``PRO_PUBLIC_BASE_URL`` + the questionnaire page's path for a token."""

from __future__ import annotations

from django.conf import settings
from django.urls import NoReverseMatch, reverse

# The patient's page is mounted at /q/<token>/ (URL name "pro_questionnaire"); used when that name is not routed.
PATIENT_PATH = "/q/{token}/"


def patient_path(token: str) -> str:
    """Path of the questionnaire page for ``token`` (no host)."""
    try:
        return reverse("pro_questionnaire", kwargs={"token": token})
    except NoReverseMatch:
        return PATIENT_PATH.format(token=token)


def patient_url(token: str) -> str:
    """Absolute link for e-mails and QR codes."""
    return settings.PRO_PUBLIC_BASE_URL.rstrip("/") + patient_path(token)
