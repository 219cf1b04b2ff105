"""Data built once per test module, for modules whose tests only read it (issue 10 item A.9).

``module_transaction`` opens an outer transaction around a module's tests, the way Django's ``TestCase`` does per
class: the module fixture builds its data inside it, each test then runs in its own savepoint (pytest-django's
``db``) and is rolled back to the module data, and at the module's end the outer transaction is rolled back, so the
test database is left exactly as it was (no flush, which would also delete rows installed by data migrations).

A module using it must not hold ``transaction=True`` tests (they flush the database and expect autocommit).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction


@contextmanager
def module_transaction(django_db_blocker) -> Iterator[None]:
    """Open an outer atomic block on the default database for the duration of the ``with`` block; roll it back at
    the end. Build the module's data inside ``with django_db_blocker.unblock():`` within the block."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        # As Django's TestCase marks its class-wide atomic: durable blocks inside (the services' own) stay allowed.
        atomic._from_testcase = True  # type: ignore[attr-defined]
        atomic.__enter__()
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
