"""A write interrupted by a database error leaves no partial record (issue 7 §3)."""

from unittest import mock

import pytest
from django.db import OperationalError

from tests.factories import patient_data, spine_lesion
from trials import services
from trials.models import Lesion, Patient, Site, Visit

pytestmark = pytest.mark.django_db(transaction=True)


def test_enrollment_interrupted_after_patient_insert_leaves_nothing(coordinator, site):
    from trials.services import patients as patient_services

    real_save = patient_services.save_audited
    calls = {"n": 0}

    def failing_save(instance, **kw):
        calls["n"] += 1
        if isinstance(instance, Visit) and calls["n"] > 4:
            raise OperationalError("server closed the connection unexpectedly")
        return real_save(instance, **kw)

    with mock.patch.object(patient_services, "save_audited", failing_save), pytest.raises(OperationalError):
        services.patient_enroll(actor=coordinator, site=site, patient_data=patient_data(), lesion_data=spine_lesion())
    assert calls["n"] > 4  # the patient, the lesion and some visits had been written before the fault
    assert Patient.objects.count() == 0
    assert Lesion.objects.count() == 0
    assert Visit.objects.count() == 0
    assert Patient.history.count() == 0
    # the study-ID counter rolled back too: the next enrollment gets ATL-0001
    assert Site.objects.get(pk=site.pk).next_patient_number == 1
    p = services.patient_enroll(actor=coordinator, site=site, patient_data=patient_data(), lesion_data=spine_lesion())
    assert p.study_id == "ATL-0001"


def _wsgi_get(path: str) -> int:
    """One request through Django's real WSGI handler (unlike the test client, it runs close_old_connections
    before and after the request, as gunicorn does)."""
    import io

    from django.core.handlers.wsgi import WSGIHandler

    statuses = []
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    b"".join(WSGIHandler()(environ, lambda status, headers: statuses.append(status)))
    return int(statuses[0].split()[0])


def test_a_connection_the_server_dropped_costs_no_request_an_error(postgres, settings):
    """PostgreSQL restarted (here: the server ends this process's session): with CONN_HEALTH_CHECKS, as the
    settings have it, the next request reconnects instead of failing once on the dead persistent connection."""
    import psycopg
    from django.db import connection

    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    connection.close()
    previous = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 60  # persistent connections, as in production
    try:
        assert _wsgi_get("/healthz") == 200
        pid = connection.connection.info.backend_pid  # the persistent connection the request left open
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0] is True
        assert _wsgi_get("/healthz") == 200  # without the health check: 503 (and a 500 on any other page)
        assert connection.connection.info.backend_pid != pid
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = previous
        connection.close()
