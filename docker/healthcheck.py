"""Web container healthcheck: GET /healthz on the local gunicorn as the TLS proxy would send it.

Sends the first host of ``DJANGO_ALLOWED_HOSTS`` as ``Host`` (a request for 127.0.0.1 would be refused with 400
when only the real host name is allowed) and ``X-Forwarded-Proto: https`` (else ``DJANGO_SECURE_SSL_REDIRECT``
answers 301). Exit 0 only on 200 with ``{"status": "ok"}``. ``HEALTHCHECK_URL`` overrides the address.
Standard library only: it runs in the production image.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/healthz"


def probe_host(allowed_hosts: str) -> str:
    """A host name Django accepts: the first entry, without a subdomain wildcard's dot; 'localhost' for '*'."""
    for entry in (part.strip() for part in allowed_hosts.split(",")):
        if entry and entry != "*":
            return entry.lstrip(".")
    return "localhost"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect is a failure, not something to follow
        return None


def main() -> int:
    url = os.environ.get("HEALTHCHECK_URL", DEFAULT_URL)
    request = urllib.request.Request(  # noqa: S310 - a fixed local http URL
        url, headers={"Host": probe_host(os.environ.get("DJANGO_ALLOWED_HOSTS", "")), "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=5) as response:
            body = json.loads(response.read() or b"{}")
            ok = response.status == 200 and body.get("status") == "ok"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if not ok:
        print(f"unhealthy: {response.status} {body}", file=sys.stderr)  # noqa: T201
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
