"""URL configuration of /api/v1/ (included from config/urls.py)."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from trials.api.auth_views import TokenView
from trials.api.errors import api_not_found
from trials.api.exports import ExportView
from trials.api.viewsets import data_management, files, resources

router = SimpleRouter()
router.register("sites", resources.SiteViewSet, basename="site")
router.register("patients", resources.PatientViewSet, basename="patient")
router.register("lesions", resources.LesionViewSet, basename="lesion")
router.register("procedures", resources.ProcedureViewSet, basename="procedure")
router.register("radiation-courses", resources.RadiationCourseViewSet, basename="radiationcourse")
router.register("visits", resources.VisitViewSet, basename="visit")
router.register("adverse-events", resources.AdverseEventViewSet, basename="adverseevent")
router.register("skeletal-events", resources.SkeletalEventViewSet, basename="skeletalevent")
router.register("imaging-assessments", resources.ImagingAssessmentViewSet, basename="imagingassessment")
router.register("study-exits", resources.StudyExitViewSet, basename="studyexit")

interop_urls = [  # data management and interoperability (issue 6)
    path("export/odm.xml", files.OdmExportView.as_view(), name="export-odm"),
    path("export/redcap/dictionary.csv", files.RedcapDictionaryView.as_view(), name="export-redcap-dictionary"),
    path("export/dataset-json/<slug:name>.<slug:fmt>", files.DatasetJsonView.as_view(), name="export-dataset-json"),
    path(
        "export/redcap/repeating_instruments.csv",
        files.RedcapRepeatingInstrumentsView.as_view(),
        name="export-redcap-repeating-instruments",
    ),
    path("export/redcap/records.csv", files.RedcapRecordsView.as_view(), name="export-redcap-records"),
    path("export/registry.xlsx", files.RegistryWorkbookView.as_view(), name="export-registry-xlsx"),
    path("data-queries/", data_management.DataQueryListView.as_view(), name="dataquery-list"),
    path("data-queries/<int:pk>/answer/", data_management.DataQueryAnswerView.as_view(), name="dataquery-answer"),
    path("data-queries/<int:pk>/close/", data_management.DataQueryCloseView.as_view(), name="dataquery-close"),
    path("data-queries/<int:pk>/reopen/", data_management.DataQueryReopenView.as_view(), name="dataquery-reopen"),
    path("signatures/visits/<int:pk>/", data_management.VisitSignView.as_view(), name="visit-sign"),
    path("locks/", data_management.LockListView.as_view(), name="lock-list"),
    path("locks/<int:pk>/unlock/", data_management.LockReleaseView.as_view(), name="lock-unlock"),
]

app_urls = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("export/<slug:resource>.csv", ExportView.as_view(), name="export"),
    *interop_urls,
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), so the CSP needs no inline scripts.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
    path("", include("analytics.api_urls")),  # report runs (analytics/api.py)
]

urlpatterns = [
    path("", include((app_urls, "api"))),
    re_path(r"^.*$", api_not_found, name="api-not-found"),
]
