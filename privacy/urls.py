from django.urls import path

from privacy import consent_views, request_views, views

app_name = "privacy"

urlpatterns = [
    path("", views.notice, name="notice"),
    path("notice.pdf", views.notice_pdf, name="notice_pdf"),
    path("record/", views.record, name="record"),
    path("record.pdf", views.record_pdf, name="record_pdf"),
    path("request/", request_views.request_form, name="request"),
    path("request/sent/", request_views.request_sent, name="request_sent"),
    path(
        "request/confirmed/",
        request_views.request_sent,
        {"verified": True},
        name="request_sent_verified",
    ),
    path("request/confirm/<str:token>/", request_views.request_verify_view, name="request_verify"),
    path("download/<str:token>/", request_views.download, name="download"),
    path("cookies/", consent_views.cookie_settings, name="cookies"),
    path("marketing/", consent_views.marketing_consent, name="marketing_consent"),
]
