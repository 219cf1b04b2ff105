"""URL configuration of /api/v1/ (included from config/urls.py)."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from trials.api.auth_views import TokenView
from trials.api.errors import api_not_found
from trials.api.exports import ExportView
from trials.api.viewsets import resources

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

app_urls = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("export/<slug:resource>.csv", ExportView.as_view(), name="export"),
    path("", include("trials.api.interop")),  # data management and interoperability (issue 6)
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
