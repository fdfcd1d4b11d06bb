from django.urls import path

from accounts import views

app_name = "my_account"

urlpatterns = [
    path("", views.home, name="home"),
    path("details/", views.profile, name="profile"),
    path("language/", views.language, name="language"),
    path("orders/", views.orders, name="orders"),
    path("orders/<str:code>/", views.order_open, name="order"),
    path("communication/", views.communication, name="communication"),
    path("my-data.json", views.data_download, name="data_download"),
    path("delete/", views.close, name="close"),
]
