from django.urls import path

from ticketing import views

app_name = "ticketing"

urlpatterns = [
    path("", views.home, name="home"),
    path("visit/<slug:slug>/", views.exhibition_calendar, name="calendar"),
    path("visit/<slug:slug>/<str:day>/", views.exhibition_day, name="day"),
    path("visit/<slug:slug>/<str:day>/<str:hhmm>/", views.checkout, name="checkout"),
    path("order/<token:token>/", views.order_detail, name="order_detail"),
    path("order/<token:token>/pay/", views.order_pay, name="order_pay"),
    path("order/<token:token>/tickets.pdf", views.order_pdf_download, name="order_pdf"),
    path("order/<token:token>/resend/", views.order_resend_view, name="order_resend"),
    path("pay/demo/<token:reference>/", views.demo_pay, name="demo_pay"),
    path("payments/stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
    path("check-in/", views.check_in, name="check_in"),
    path("my/orders/", views.my_orders, name="my_orders"),
]
