from django.conf import settings
from django.contrib import admin
from django.urls import include, path, register_converter
from django.views.i18n import set_language

from museum.converters import SecretTokenConverter
from museum.staff import admin_login
from privacy import admin_access_log

# <token:...> in the apps' URLs: secret links' tokens, refused in the URL when malformed.
register_converter(SecretTokenConverter, "token")

urlpatterns = [
    path("admin/login/", admin_login, name="staff_admin_login"),  # staff sign in via allauth
    # the DPO's search in the access log (privacy/admin_access_log.py)
    path("admin/privacy/access-log/", admin_access_log.access_log, name="privacy_access_log"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),  # My account
    path("privacy/", include("privacy.urls")),
    path("refunds/", include("refunds.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    # the mail provider's tracking webhooks (opens count as activity: newsletter.signals)
    path("anymail/", include("anymail.urls")),
    path("api/", include("ticketing.api.urls")),
    path("", include("accounts.card_urls")),  # /card/... and /account/card/
    path("", include("ticketing.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
