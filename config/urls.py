from django.contrib import admin
from django.urls import include, path

from config import edge
from config.health import healthz

handler400, handler403, handler404, handler500 = edge.handler400, edge.handler403, edge.handler404, edge.handler500

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("config.api_urls")),
    path("q/", include("pro.patient.urls")),  # the patient's questionnaire by link (issue 15): no login
    path("", include("pro.urls")),  # questionnaires: the coordinator's pages (issue 15)
    path("", include("analytics.web.urls")),  # the investigator reports pages
    path("", include("trials.web.urls")),
]
