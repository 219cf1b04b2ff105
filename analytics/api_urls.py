"""Report-run endpoints, composed into /api/v1/ by config/api_urls.py (URL names in the ``api`` namespace)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from analytics.api import ReportRunViewSet

router = SimpleRouter()
router.register("reports", ReportRunViewSet, basename="reportrun")

urlpatterns = [
    *router.urls,
    path(
        "reports/<int:pk>/artifacts/<str:name>",
        ReportRunViewSet.as_view({"get": "artifact"}),
        name="reportrun-artifact",
    ),
]
