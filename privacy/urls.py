from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("", views.notice, name="notice"),
    path("record/", views.record, name="record"),
    path("record.pdf", views.record_pdf, name="record_pdf"),
]
