"""Staff pages of the PRO app (mounted at the site root by config/urls.py)."""

from django.urls import path

from pro import web
from trials.web.urls import STUDY_ID

urlpatterns = [
    path(f"patients/{STUDY_ID}/questionnaires/", web.patient_questionnaires, name="pro_patient"),
    path(f"patients/{STUDY_ID}/questionnaires/<slug:visit_code>/send/", web.send_now, name="pro_send_now"),
    path(f"patients/{STUDY_ID}/questionnaires/<slug:visit_code>/clinic-link/", web.clinic_link, name="pro_clinic_link"),
    path("questionnaires/compliance/", web.compliance_page, name="pro_compliance"),
    path("questionnaires/log/", web.invitation_log_page, name="pro_log"),
    path("questionnaires/log.csv", web.invitation_log_csv, name="pro_log_csv"),
]
