from django.urls import path

from refunds import views

app_name = "refunds"

urlpatterns = [
    # The buyer's page for one refund: choose, give bank details, follow it (secret link).
    path("refund/<token:token>/", views.refund_page, name="refund"),
    # From the order page: ask to cancel tickets of a paid order.
    path("order/<token:token>/cancel/", views.order_cancel_request, name="order_cancel"),
]
