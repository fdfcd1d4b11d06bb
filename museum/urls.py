from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),  # My account
    path("i18n/setlang/", set_language, name="set_language"),
    path("api/", include("ticketing.api.urls")),
    path("", include("accounts.card_urls")),  # /card/... and /account/card/
    path("", include("ticketing.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
