"""Issue 15 §3 security: no contact detail appears in any export, API response (any role), page, audit row or log line.

The patient's e-mail and phone are recorded, invitations go out (so events, tokens, messages exist), then the test
walks every URL pattern of the project that it can fill (study ID, visit code, export names, ids) and GETs it as each
role, scans every table of the database (the audit history included) and every log record, for the address, its
local part and the phone number. The only place they may appear: the contact page of the patient's own site staff.
"""

from __future__ import annotations

import logging
import re

import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

from pro import sending
from pro.services import set_contact
from tests.factories import make_user
from trials.interop.tabular import EXPORTS
from trials.models import Role

EMAIL, LOCAL, PHONE = "zq.secret.patient@zq-secret-mail.test", "zq.secret.patient", "+1 555 0199 777"
NEEDLES = (EMAIL, LOCAL, PHONE, PHONE.replace(" ", ""), "zq-secret-mail")
CONTACT_PAGE = re.compile(r"^/patients/[^/]+/questionnaires/$")


def _patterns(resolvers, prefix=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + _plain(str(entry.pattern)))
        elif isinstance(entry, URLPattern):
            yield prefix + _plain(str(entry.pattern))


def _plain(pattern: str) -> str:
    """A router's regex (``^visits/(?P<pk>[^/.]+)/$``) as a path pattern (``visits/<pk>/``)."""
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", pattern).lstrip("^").rstrip("$")


def _fill(pattern: str, patient, visit) -> list[str]:
    if pattern.startswith("admin") or "format" in pattern or "\\" in pattern or "logout" in pattern:
        return []
    values = {
        "study_id": [patient.study_id],
        "visit_code": [visit.visit_code],
        "pk": sorted({str(patient.pk), str(visit.pk), "1"}),
        "resource": sorted(EXPORTS),
        "name": ["ADSL", "ADRESP", "dm"],
        "fmt": ["json", "ndjson"],
        "kind": ["lesion", "exit"],
    }
    paths = [pattern]
    for name in re.findall(r"<(?:\w+:)?(\w+)>", pattern):
        choices = values.get(name, ["1"])
        paths = [p.replace(re.search(rf"<(?:\w+:)?{name}>", p).group(0), c, 1) for p in paths for c in choices]
    return ["/" + p for p in paths]


@pytest.mark.django_db
def test_no_contact_detail_in_any_response_table_or_log_line(client, patient, coordinator, site, caplog, time_machine):
    caplog.set_level(logging.DEBUG)
    set_contact(patient, email=EMAIL, phone=PHONE, actor=coordinator)
    visit = patient.visits.filter(visit_code__in=sending.visit_codes()).order_by("window_start").last()
    time_machine.move_to(f"{visit.window_start}T12:00:00Z")
    sending.run(any_hour=True)
    users = {
        "coordinator": coordinator,
        "site_investigator": make_user("si_leak", Role.SITE_INVESTIGATOR, site),
        "data_manager": make_user("dm_leak", Role.DATA_MANAGER, None),
        "investigator": make_user("inv_leak", Role.INVESTIGATOR, None),
        "sponsor": make_user("sp_leak", Role.SPONSOR, None),
    }
    users["data_manager"].is_staff = users["data_manager"].is_superuser = True  # the admin too
    users["data_manager"].save()
    paths = sorted({p for pattern in _patterns(get_resolver().url_patterns) for p in _fill(pattern, patient, visit)})
    paths += [
        "/admin/pro/patientcontact/",
        f"/admin/pro/patientcontact/{patient.pro_contact.pk}/change/",
        "/admin/pro/invitation/",
    ]
    assert any(p.startswith("/api/v1/export/") for p in paths) and "/questionnaires/log.csv" in paths
    scanned = 0
    for role, user in users.items():
        client.force_login(user)
        for path in paths:
            response = client.get(path)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            text = body.decode("utf-8", "replace")
            if role in {"coordinator", "site_investigator"} and CONTACT_PAGE.match(path):
                assert EMAIL in text  # the own site's staff see it (and only here)
                continue
            for needle in NEEDLES:
                assert needle not in text, f"{needle!r} in {path} as {role} ({response.status_code})"
            scanned += 1
        client.logout()
    assert scanned > 100
    with connection.cursor() as cursor:  # every table: audit history, events, tokens, exports' source rows
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from introspection
            dump = repr(cursor.fetchall())
            for needle in (EMAIL, LOCAL, PHONE):
                assert needle not in dump, f"{needle!r} stored in clear in {table}"
    for record in caplog.records:
        line = record.getMessage()
        for needle in NEEDLES:
            assert needle not in line, f"log line from {record.name}: {line[:200]}"
