"""Objects, payloads and expected statuses of the access matrix (tests/api/test_access_matrix.py).

The table ``ENDPOINTS`` is keyed by URL name: a new endpoint without a row here
makes the matrix test fail, so nobody adds an endpoint without saying who may use it.
"""

from __future__ import annotations

import datetime as dt

# URL name → the (method, kind) cases run against it.
ENDPOINTS: dict[str, list[tuple[str, str]]] = {
    "api:auth-token": [("POST", "login"), ("DELETE", "logout")],
    # data management and interoperability (issue 6)
    "api:export-odm": [("GET", "staff_read")],
    "api:export-redcap-dictionary": [("GET", "staff_read")],
    "api:export-redcap-records": [("GET", "staff_read")],
    "api:export-redcap-repeating-instruments": [("GET", "staff_read")],
    "api:export-registry-xlsx": [("GET", "export")],
    "api:export-dataset-json": [("GET", "export")],
    "api:dataquery-list": [("GET", "staff_read"), ("POST", "dm_create")],
    "api:dataquery-answer": [("POST", "update")],
    "api:dataquery-close": [("POST", "dm_action")],
    "api:dataquery-reopen": [("POST", "dm_action")],
    "api:visit-sign": [("POST", "sign")],
    "api:lock-list": [("GET", "staff_read"), ("POST", "dm_create")],
    "api:lock-unlock": [("POST", "dm_action")],
    "api:export": [("GET", "export")],
    "api:schema": [("GET", "public")],
    "api:docs": [("GET", "public")],
    "api-not-found": [("GET", "unknown")],
    "api:site-list": [("GET", "list")],
    "api:site-detail": [("GET", "detail")],
    "api:site-history": [("GET", "history")],
    "api:patient-list": [("GET", "list"), ("POST", "create")],
    "api:patient-detail": [("GET", "detail"), ("PATCH", "update")],
    "api:patient-history": [("GET", "history")],
    "api:patient-void": [("POST", "void")],
    "api:lesion-list": [("GET", "list"), ("POST", "create")],
    "api:lesion-detail": [("GET", "detail"), ("PATCH", "update")],
    "api:lesion-history": [("GET", "history")],
    "api:lesion-void": [("POST", "void")],
    "api:procedure-list": [("GET", "list"), ("POST", "create")],
    "api:procedure-detail": [("GET", "detail"), ("PATCH", "update")],
    "api:procedure-history": [("GET", "history")],
    "api:procedure-void": [("POST", "void")],
    "api:radiationcourse-list": [("GET", "list"), ("POST", "create")],
    "api:radiationcourse-detail": [("GET", "detail"), ("PATCH", "update")],
    "api:radiationcourse-history": [("GET", "history")],
    "api:radiationcourse-void": [("POST", "void")],
    "api:visit-list": [("GET", "list")],
    "api:visit-detail": [("GET", "detail"), ("PATCH", "update")],
    "api:visit-history": [("GET", "history")],
    "api:visit-void": [("POST", "void")],
    "api:adverseevent-list": [("GET", "list"), ("POST", "create")],
    "api:adverseevent-detail": [("GET", "detail"), ("PATCH", "update")],
    "api:adverseevent-history": [("GET", "history")],
    "api:adverseevent-void": [("POST", "void")],
    "api:skeletalevent-list": [("GET", "list"), ("POST", "create")],
    "api:skeletalevent-detail": [("GET", "detail"), ("PATCH", "update")],
    "api:skeletalevent-history": [("GET", "history")],
    "api:skeletalevent-void": [("POST", "void")],
    "api:imagingassessment-list": [("GET", "list"), ("POST", "create")],
    "api:imagingassessment-detail": [("GET", "detail"), ("PATCH", "update")],
    "api:imagingassessment-history": [("GET", "history")],
    "api:imagingassessment-void": [("POST", "void")],
    "api:studyexit-list": [("GET", "list"), ("POST", "create")],
    "api:studyexit-detail": [("GET", "detail"), ("PATCH", "update")],
    "api:studyexit-history": [("GET", "history")],
    "api:studyexit-void": [("POST", "void")],
    "api:reportrun-list": [("GET", "report_read"), ("POST", "report_create")],
    "api:reportrun-detail": [("GET", "report_read")],
    "api:reportrun-artifact": [("GET", "report_read")],
}
REPORT_READERS = {"investigator", "data_manager", "sponsor"}

OBJECT_KINDS = {"detail", "history", "update", "void", "create"}
OBJECT_KINDS |= {"dm_action", "sign"}  # issue 6
SITE_ROLES_OWN = {"coordinator", "site_investigator"}  # members of ATL, the "own" site
STUDY_WIDE_READERS = {"investigator", "data_manager", "sponsor"}


def expected_status(kind: str, method: str, role: str, target: str) -> int:
    """The status a role must get; ``target`` is "own" (an ATL object), "other" (BOS) or "list"."""
    if kind == "public":
        return 200
    if kind == "unknown":
        return 404
    if kind == "login":
        return 400 if role == "anonymous" else 200
    if role == "anonymous":
        return 401
    if kind == "logout":
        return 204
    if kind in INTEROP_KINDS:
        return interop_expected_status(kind, role, target)
    if kind.startswith("report_"):
        if role not in REPORT_READERS or (kind == "report_create" and role == "sponsor"):  # sponsors read, never start
            return 403
        return 202 if kind == "report_create" else 200
    if kind in {"list", "export"}:
        return 200
    member_of = "own" if role in SITE_ROLES_OWN else "other" if role == "other_coordinator" else None
    visible = member_of is None or member_of == target
    if kind in {"detail", "history"}:
        if not visible:
            return 404
        return 403 if (kind == "history" and role == "sponsor") else 200
    # writes: read-only roles are refused before any row is looked at
    if role in {"sponsor", "investigator", "site_investigator"}:
        return 403
    if not visible:
        return 400 if kind == "create" else 404  # an unseen study ID / site code in the body is invalid input
    return 201 if kind == "create" else 200


def create_payload(resource: str, reg, target: str) -> dict:
    """A valid body for POST on ``resource`` referring to the own (ATL) or other (BOS) site."""
    documented = reg.patients["own" if target == "own" else "other"]
    exited = reg.patients["own_exited" if target == "own" else "other_exited"]
    today = documented.enrollment_date + dt.timedelta(days=100)
    payloads = {
        "patient": {
            "site": (reg.site if target == "own" else reg.other_site).code,
            "birth_year": 1955,
            "sex": "M",
            "histology": "lung",
            "ecog": 1,
            "consent_date": str(today - dt.timedelta(days=3)),
            "enrollment_date": str(today - dt.timedelta(days=2)),
            "day0": str(today),
            "screening_worst_pain": 7,
            "index_lesion": {"region": "pelvis", "bone": "ilium", "lesion_type": "lytic", "mechanical_or_functional_pain": True},
        },
        "lesion": {"patient": documented.study_id, "region": "peripheral", "bone": "femur", "lesion_type": "mixed"},
        "procedure": {"patient": exited.study_id, "procedure_date": str(exited.day0), "modality": "cryo", "augmentation": "none"},
        "radiationcourse": {
            "patient": documented.study_id,
            "sequence": "after",
            "start_date": str(documented.day0 + dt.timedelta(days=20)),
            "end_date": str(documented.day0 + dt.timedelta(days=20)),
            "total_dose_gy": "8",
            "fractions": 1,
            "technique": "sbrt",
        },
        "adverseevent": {
            "patient": documented.study_id,
            "term": "Transient neuralgia",
            "onset_date": str(documented.day0 + dt.timedelta(days=2)),
            "sir_grade": "moderate",
            "ctcae_grade": 2,
            "relatedness": "procedure",
            "serious": False,
            "outcome": "recovering",
        },
        "skeletalevent": {
            "patient": documented.study_id,
            "event_type": "surgery_to_bone",
            "event_date": str(documented.day0 + dt.timedelta(days=50)),
        },
        "imagingassessment": {
            "patient": documented.study_id,
            "lesion_instance": 1,
            "assessment_date": str(documented.day0 + dt.timedelta(days=60)),
            "imaging_modality": "ct",
            "viable_tumour": "present",
            "local_tumour_progression": True,
            "ltp_date": str(documented.day0 + dt.timedelta(days=60)),
        },
        "studyexit": {
            "patient": documented.study_id,
            "exit_type": "completion",
            "exit_date": str(today - dt.timedelta(days=1)),
            "last_contact_date": str(today - dt.timedelta(days=1)),
        },
    }
    return payloads[resource]


UPDATE_PAYLOADS: dict[str, dict] = {
    "patient": {"ecog": 2},
    "dataquery": {"message": "Confirmed against the source document"},
    "lesion": {"size_mm": 25},
    "procedure": {"probes": 2},
    "radiationcourse": {"technique": "imrt"},
    "visit": {"pain": {"worst": 3}},
    "adverseevent": {"outcome": "recovered"},
    "skeletalevent": {"location": "L3"},
    "imagingassessment": {"imaging_modality": "pet_ct"},
    "studyexit": {"exit_type": "lost_to_follow_up"},
}


def detail_kwargs(resource: str, reg, target: str) -> dict:
    """URL kwargs of the own-site or other-site object of ``resource``."""
    documented = reg.patients["own" if target == "own" else "other"]
    exited = reg.patients["own_exited" if target == "own" else "other_exited"]
    objects = {
        "site": lambda: reg.site if target == "own" else reg.other_site,
        "lesion": lambda: documented.lesions.get(is_index=True),
        "procedure": lambda: documented.procedures.earliest("id"),
        "radiationcourse": lambda: documented.radiation_courses.earliest("id"),
        "visit": lambda: documented.visits.get(visit_code="month1"),
        "adverseevent": lambda: documented.adverse_events.earliest("id"),
        "skeletalevent": lambda: documented.skeletal_events.earliest("id"),
        "imagingassessment": lambda: documented.imaging_assessments.earliest("id"),
        "studyexit": lambda: exited.exits.earliest("id"),
    }
    if resource in INTEROP_OBJECTS:
        return {"pk": INTEROP_OBJECTS[resource](reg, target).pk}
    if resource == "patient":
        return {"study_id": documented.study_id}
    return {"pk": objects[resource]().pk}


# --- data management and interoperability (issue 6) -----------------------------------------------------------------
INTEROP_KINDS = {"staff_read", "dm_create", "dm_action", "sign"}


def interop_expected_status(kind: str, role: str, target: str) -> int:
    """Staff reads exclude sponsors; queries/locks are the data manager's; only the site's investigator signs."""
    if kind == "staff_read":
        return 403 if role == "sponsor" else 200
    if kind == "dm_create":
        return 201 if role == "data_manager" else 403
    if kind == "dm_action":
        return 200 if role == "data_manager" else 403
    if role != "site_investigator":
        return 403
    return 201 if target == "own" else 404


def interop_body(name: str, kind: str, reg, target: str) -> dict | None:
    if kind == "staff_read":
        return None
    if kind == "sign":
        return {"password": "pw-Secret-123", "meaning": "review"}
    if kind == "dm_action":
        return {"message": "Checked against the source document"}
    documented = reg.patients["own"]
    if name == "api:lock-list":
        return {"patient": documented.study_id, "reason": "Interim cut-off"}
    visit = documented.visits.get(visit_code="month1")
    return {"record_type": "visit", "object_id": visit.pk, "field_name": "visit_date", "message": "Please confirm"}


def _answered_query(reg, target: str):
    """An answered query on the month-1 visit of the own/other documented patient (made once per registry)."""
    from trials.services.data_queries import data_query_answer, data_query_open

    cache = reg.__dict__.setdefault("_answered_queries", {})
    if target not in cache:
        visit = reg.patients[target].visits.get(visit_code="month1")
        query = data_query_open(actor=reg.users["data_manager"], record=visit, field_name="visit_date", message="Please confirm")
        site_user = reg.users["coordinator" if target == "own" else "other_coordinator"]
        cache[target] = data_query_answer(actor=site_user, query=query, message="Confirmed")
    return cache[target]


def _active_lock(reg, target: str):
    """An active lock on a spare patient of the own/other site (so no other endpoint meets a lock)."""
    from tests.factories import enroll_patient
    from trials.services.locking import patient_lock

    cache = reg.__dict__.setdefault("_active_locks", {})
    if target not in cache:
        documented = reg.patients[target]
        actor = reg.users["coordinator" if target == "own" else "other_coordinator"]
        spare = enroll_patient(
            actor, documented.site, with_procedure=False, enrollment_date=documented.enrollment_date, day0=documented.day0
        )
        cache[target] = patient_lock(actor=reg.users["data_manager"], patient=spare, reason="Cut-off")
    return cache[target]


INTEROP_OBJECTS = {"dataquery": _answered_query, "lock": _active_lock}
