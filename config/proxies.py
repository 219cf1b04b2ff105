"""The client's address, with proxy trust stated explicitly (``DJANGO_NUM_PROXIES``).

``X-Forwarded-For`` is written by the client unless a proxy we run overwrites it, so it is
believed only as far as ``NUM_PROXIES`` says: with 0 (the default) the address is the TCP
peer (``REMOTE_ADDR``) and the header is ignored; with N, the address N hops from the right
of the header (the one our outermost proxy saw), exactly as DRF's ``NUM_PROXIES`` reads it.
Both the login lockout (django-axes, ``AXES_CLIENT_IP_CALLABLE``) and the API throttles use
this one function, so a forged header fools neither.
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    """Client IP address as a string ('' when unknown); see the module docstring for the proxy rule."""
    meta = request.META
    remote = meta.get("REMOTE_ADDR", "") or ""
    proxies = int(getattr(settings, "NUM_PROXIES", 0) or 0)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote
