"""Every list endpoint costs the same number of queries for 10 rows as for 500 (STYLE.md: pinned counts)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.api.conftest import populate_patient, registry_build
from tests.module_data import module_transaction
from trials import services
from trials.models import Site

pytestmark = pytest.mark.django_db

# token + user (1), memberships (1), the page (1), plus one per prefetched relation.
LIST_QUERIES = {
    "/api/v1/sites/": 3,
    "/api/v1/patients/": 3,
    "/api/v1/lesions/": 3,
    "/api/v1/procedures/": 4,  # + treated lesions
    "/api/v1/radiation-courses/": 3,
    "/api/v1/visits/": 4,  # + opioid entries (BPI comes in the page's join)
    "/api/v1/adverse-events/": 3,
    "/api/v1/skeletal-events/": 3,
    "/api/v1/imaging-assessments/": 3,
    "/api/v1/study-exits/": 3,
}


@pytest.fixture(scope="module")
def larger_registry(django_db_setup, django_db_blocker):
    """At least 12 rows of every resource, so that page size 10 and 500 return different row counts. Built once for
    the module (the tests only read; each one's API token is rolled back with the test)."""
    with module_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            today = timezone.localdate()
            registry = registry_build(today)
            coordinator = registry.users["coordinator"]
            for n in range(10):
                Site.objects.create(code=f"S{chr(65 + n)}X", name=f"Site {n}")
                patient = populate_patient(coordinator, registry.site, today)
                services.study_exit_record(
                    actor=coordinator,
                    patient=patient,
                    data={
                        "exit_type": "completion",
                        "exit_date": today - dt.timedelta(days=1),
                        "last_contact_date": today - dt.timedelta(days=1),
                    },
                )
        yield registry


@pytest.mark.parametrize("role", ["data_manager", "sponsor"])
@pytest.mark.parametrize("url", sorted(LIST_QUERIES))
def test_list_query_count_does_not_grow_with_page_size(larger_registry, django_assert_num_queries, url, role):
    client = larger_registry.client(role)
    counts = {}
    for page_size in (10, 500):
        with django_assert_num_queries(LIST_QUERIES[url]):
            response = client.get(f"{url}?page_size={page_size}")
        assert response.status_code == 200
        counts[page_size] = len(response.json()["results"])
    assert counts[500] > counts[10] == 10 or url == "/api/v1/sites/"
