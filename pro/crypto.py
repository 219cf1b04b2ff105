"""Encryption at rest of patient contact details (issue 15 §3).

Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``) keys come from the environment variable
``PRO_CONTACT_KEY``: one or more url-safe base64 32-byte keys separated by commas, newest first. Values are
encrypted with the first key and decrypted with any (``MultiFernet``), so a key can be rotated by prepending a
new one and running ``manage.py pro_rotate_contact_key``. Development settings carry a dev-only default key;
production settings refuse to start without ``PRO_CONTACT_KEY`` (``check_key_configured``).
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Development only: well known, so never use it for real addresses. config/settings/production.py refuses it.
DEV_ONLY_KEY = "ZGV2LW9ubHktcHJvLWNvbnRhY3Qta2V5LW5vdC1zZWM="


def _keys() -> list[str]:
    raw = getattr(settings, "PRO_CONTACT_KEY", "") or ""
    return [k.strip() for k in raw.split(",") if k.strip()]


def check_key_configured() -> None:
    """Raise ``ImproperlyConfigured`` when no key is set, a key is malformed, or production uses the dev key."""
    keys = _keys()
    if not keys:
        raise ImproperlyConfigured("PRO_CONTACT_KEY is not set: patient contact details cannot be encrypted.")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                "PRO_CONTACT_KEY must be url-safe base64 32-byte Fernet keys separated by commas "
                "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
            ) from exc
    if getattr(settings, "PRO_CONTACT_KEY_REQUIRED", False) and DEV_ONLY_KEY in keys:
        raise ImproperlyConfigured("PRO_CONTACT_KEY is the development-only key; set a real key in production.")


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def fernet() -> MultiFernet:
    """The MultiFernet of the configured keys (first encrypts, any decrypts)."""
    return _fernet(tuple(_keys()))


def encrypt(value: str) -> str:
    """Ciphertext (Fernet token, ASCII) of ``value``; '' stays ''."""
    if not value:
        return ""
    return fernet().encrypt(value.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """Plain text of a Fernet token; '' stays ''. Raises ``InvalidToken`` when no configured key opens it."""
    if not token:
        return ""
    return fernet().decrypt(token.encode("ascii")).decode()


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key (MultiFernet.rotate)."""
    return fernet().rotate(token.encode("ascii")).decode("ascii") if token else ""


__all__ = ["DEV_ONLY_KEY", "InvalidToken", "check_key_configured", "decrypt", "encrypt", "fernet", "rotate"]
