"""``/api/v1/``: composed from the apps' URL lists and the shared API plumbing (``apicore``).

Every name is in the ``api`` namespace (``api:patient-list``, ``api:reportrun-detail``, ``api:schema``…); any other
path under ``/api/v1/`` answers the API's JSON 404.
"""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from analytics import api_urls as analytics_api
from apicore.auth_views import TokenView
from apicore.errors import api_not_found
from trials.api import urls as trials_api

app_urls = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), so the CSP needs no inline scripts.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    *trials_api.urlpatterns,  # records, CSV exports, data management and interoperability
    *analytics_api.urlpatterns,  # report runs
]

urlpatterns = [
    path("", include((app_urls, "api"))),
    re_path(r"^.*$", api_not_found, name="api-not-found"),
]
