"""Addresses of the patient's questionnaire page: ``/q/<token>/`` (the token is 43 URL-safe characters, but any
path segment is accepted here so that a malformed token gets the same neutral page as an unknown one)."""

from django.urls import path

from pro.patient import views

urlpatterns = [
    path("<str:token>/", views.questionnaire_start, name="pro_patient_start"),
    path("<str:token>/step/<int:index>/", views.questionnaire_step, name="pro_patient_step"),
    path("<str:token>/review/", views.questionnaire_review, name="pro_patient_review"),
    path("<str:token>/done/", views.questionnaire_done, name="pro_patient_done"),
]
