import pytest
from django.db import connection

from tests.conftest import require_service


@pytest.fixture
def postgres():
    """The suite is running on PostgreSQL (CI sets DATABASE_URL)."""
    require_service(
        connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry"
    )
    return connection
