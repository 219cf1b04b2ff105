"""Trials' endpoints under /api/v1/: the clinical records, the CSV exports, data management and interoperability.

Composed with analytics' report runs and the shared token/schema/docs endpoints in ``config/api_urls.py``
(URL names in the ``api`` namespace)."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

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

urlpatterns = [
    path("export/<slug:resource>.csv", ExportView.as_view(), name="export"),
    *interop_urls,
    *router.urls,
]
