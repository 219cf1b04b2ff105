"""The reports pages, composed into the site at the root by ``config/urls.py`` (URL names unchanged, no namespace)."""

from django.urls import path

from analytics.web import views

urlpatterns = [
    path("reports/", views.reports, name="reports"),
    path("reports/<int:run_id>/", views.report_detail, name="report_detail"),
    path("reports/<int:run_id>/status/", views.report_status, name="report_status"),
    path("reports/<int:run_id>/files/<str:name>", views.report_artifact, name="report_artifact"),
]
