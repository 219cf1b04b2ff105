from django.contrib.auth import views as auth_views
from django.urls import include, path

from trials.web.views import (
    audit,
    dashboard,
    exports,
    home,
    imports,
    locks,
    matrix,
    patients,
    queries,
    records,
    users,
    visits,
)

STUDY_ID = "<str:study_id>"

# Data management (issue 6): queries, sign-off, locks, exports, imports.
data_management = [
    path("queries/", queries.query_list, name="dm_queries"),
    path("queries/<int:pk>/", queries.query_detail, name="dm_query_detail"),
    path("queries/new/", queries.query_new, name="dm_query_new"),
    # Signing happens on the read-only visit page (issue 11); this address stays for old links and bookmarks.
    path("patients/<str:study_id>/visits/<slug:visit_code>/sign/", visits.visit_detail, name="dm_visit_sign"),
    path("locks/", locks.lock_list, name="dm_locks"),
    path("exports/", exports.exports, name="dm_exports"),
    path("imports/", imports.import_list, name="dm_imports"),
    path("imports/<int:pk>/", imports.import_detail, name="dm_import_detail"),
]

urlpatterns = [
    path("", home.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(template_name="web/password_change_form.html"),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="web/password_change_done.html"),
        name="password_change_done",
    ),
    path("worklist/", home.worklist, name="worklist"),
    path("data-management/", include(data_management)),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("record-status/", matrix.status_matrix, name="status_matrix"),
    path("audit-log/", audit.audit_log_page, name="audit_log"),
    path("audit-log.csv", audit.audit_log_csv, name="audit_log_csv"),
    path("users/", users.user_list, name="user_list"),
    path("users/<int:pk>/", users.user_detail, name="user_detail"),
    path("patients/", patients.patient_list, name="patient_list"),
    path("patients/enroll/", patients.patient_enroll, name="patient_enroll"),
    path(f"patients/{STUDY_ID}/", patients.patient_detail, name="patient_detail"),
    path(f"patients/{STUDY_ID}/visits/<slug:visit_code>/", visits.visit_entry, name="visit_entry"),
    path(f"patients/{STUDY_ID}/visits/<slug:visit_code>/history/", visits.visit_history, name="visit_history"),
    path(f"patients/{STUDY_ID}/visits/<slug:visit_code>/view/", visits.visit_detail, name="visit_detail"),
    path(f"patients/{STUDY_ID}/visits/<slug:visit_code>/review-opioids/", visits.visit_opioid_review, name="visit_opioid_review"),
    path(f"patients/{STUDY_ID}/adverse-events/new/", records.record_add, {"kind": "adverse-event"}, name="adverse_event_add"),
    path(f"patients/{STUDY_ID}/skeletal-events/new/", records.record_add, {"kind": "skeletal-event"}, name="skeletal_event_add"),
    path(f"patients/{STUDY_ID}/records/<slug:kind>/new/", records.record_add, name="record_add"),
    path(f"patients/{STUDY_ID}/records/<slug:kind>/<int:pk>/correct/", records.record_correct, name="record_correct"),
    path(f"patients/{STUDY_ID}/records/<slug:kind>/<int:pk>/void/", records.record_void, name="record_void"),
]
