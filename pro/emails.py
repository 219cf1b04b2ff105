"""The invitation and reminder e-mails (issue 15 §2): study name, site, visit and the link — no identifier, no
clinical content (templates pro/templates/pro/email/). ``Mailer`` sends many of them over a few SMTP connections
kept open for the whole tick."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import conditional_escape

from pro.links import url_maker
from trials.domain import schedule

logger = logging.getLogger("pro.sending")
# Stand-ins for the link and the site's name while a text is rendered once for many messages
_LINK, _SITE = "@@PRO-LINK@@", "@@PRO-SITE@@"


class Composer:
    """Builds the messages of one run: subject and body are rendered once per (language, reminder, visit, last day
    of the window) with stand-ins for the link and the site's name, put in per message (the name escaped as the
    template would); the URL is reversed once."""

    def __init__(self) -> None:
        self._url = url_maker()
        self._texts: dict[tuple, tuple[str, str]] = {}

    def texts(
        self, *, language: str, reminder: bool, visit_code: str, site_name: str, closes_on: dt.date, token: str
    ) -> tuple[str, str]:
        """(subject, body) of one message whose link carries ``token``."""
        key = (language or "en", reminder, visit_code, closes_on)
        if key not in self._texts:
            context = {
                "study": settings.REGISTRY_STUDY_CODE,
                "site_name": _SITE,
                "visit_label": schedule.VISITS_BY_CODE[visit_code].label,
                "url": _LINK,
                "closes_on": closes_on,
                "reminder": reminder,
            }
            with translation.override(key[0]):
                self._texts[key] = (
                    str(render_to_string("pro/email/invitation_subject.txt", context)).strip(),
                    str(render_to_string("pro/email/invitation.txt", context)),
                )
        subject, body = self._texts[key]
        site = str(conditional_escape(site_name))
        return subject.replace(_SITE, site), body.replace(_SITE, site).replace(_LINK, self._url(token))

    def message(self, to: str, **texts) -> EmailMultiAlternatives:
        """The e-mail to ``to`` (the decrypted address, held only in memory); ``texts``: as ``texts``."""
        subject, body = self.texts(**texts)
        return EmailMultiAlternatives(subject, body, settings.PRO_FROM_EMAIL, [to])


class SendFailed(Exception):
    """The backend accepted no message (e.g. a connection that could not be opened)."""


class SendAbandoned(Exception):
    """The message was not tried: its batch passed its sending deadline (``Mailer.send_all``)."""


class Connection:
    """One e-mail connection for many messages, opened at the first message and reopened after a failure (a
    dropped SMTP connection fails the message being sent, not every later one). Use as a context manager."""

    def __init__(self, connection=None) -> None:
        self.connection = connection or get_connection()
        self._open = False

    def send(self, message: EmailMultiAlternatives) -> None:
        """Send ``message``; raises the backend's exception (or ``SendFailed``) when it did not go out."""
        if not self._open:
            self.connection.open()
            self._open = True
        try:
            sent = self.connection.send_messages([message])
        except Exception:
            self.close()
            raise
        if not sent:
            self.close()
            raise SendFailed("the e-mail backend sent nothing")

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self.connection.close()
            except Exception as exc:  # noqa: BLE001 - closing a broken connection must not hide the real error
                logger.warning("closing the e-mail connection failed: %s", type(exc).__name__)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class Mailer:
    """The e-mail connections of one tick: ``PRO_SMTP_CONNECTIONS`` (default 4) kept open for all its batches, each
    used by one sending thread, so the SMTP round trips of a batch's messages overlap instead of adding up (one
    connection when ``connection`` is given). Threads only talk SMTP; the database work stays in the caller's thread.
    Use as a context manager (closes every connection)."""

    def __init__(self, connection=None, *, connections: int | None = None) -> None:
        self._given = connection
        self.size = 1 if connection is not None else max(1, connections or settings.PRO_SMTP_CONNECTIONS)
        self._local = threading.local()
        self._all: list[Connection] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _connection(self) -> Connection:
        """This thread's connection (made at its first message)."""
        mine = getattr(self._local, "connection", None)
        if mine is None:
            mine = self._local.connection = Connection(self._given)
            with self._lock:
                self._all.append(mine)
        return mine

    def send(self, message: EmailMultiAlternatives) -> None:
        """Send one message in this thread; raises when it did not go out (``Connection.send``)."""
        self._connection().send(message)

    def send_all(self, messages: list[EmailMultiAlternatives], *, deadline: float | None = None) -> list[Exception | None]:
        """Send ``messages`` over up to ``size`` connections at once; returns, per message, None when it went out or
        the exception that stopped it (a failure never stops the other messages). ``deadline``: a
        ``time.monotonic()`` instant after which no message is started (those get ``SendAbandoned``)."""
        results: list[Exception | None] = [None] * len(messages)

        def run(indexes: range) -> None:
            for i in indexes:
                if deadline is not None and time.monotonic() > deadline:
                    results[i] = SendAbandoned("the batch passed its sending deadline")
                    continue
                try:
                    self.send(messages[i])
                except Exception as exc:  # noqa: BLE001 - reported per message to the caller
                    results[i] = exc

        lanes = min(self.size, len(messages))
        if lanes <= 1:
            run(range(len(messages)))
            return results
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="pro-smtp")
        list(self._pool.map(run, [range(lane, len(messages), lanes) for lane in range(lanes)]))
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()
        self._local = threading.local()

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
