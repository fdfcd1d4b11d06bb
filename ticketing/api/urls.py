from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from ticketing.api import views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        # Redoc (served from our static files) styles itself inline and runs a blob: worker.
        csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    path("v1/slots/", views.SlotListView.as_view(), name="api-slots"),
    path("v1/orders/", views.OrderListCreateView.as_view(), name="api-orders"),
    path("v1/orders/<str:code>/", views.OrderDetailView.as_view(), name="api-order"),
    path("v1/orders/<str:code>/pdf/", views.OrderPdfView.as_view(), name="api-order-pdf"),
    path("v1/orders/<str:code>/cancel/", views.OrderCancelView.as_view(), name="api-order-cancel"),
    path("v1/notices/", views.NoticeListView.as_view(), name="api-notices"),
]
