from django.contrib import admin
from django.urls import include, path

from accounts.urls import auth_urlpatterns
from portal.views import home

from .api import api

admin.site.site_header = "Goldbook administration"
admin.site.site_title = "Goldbook admin"

urlpatterns = [
    # First: every API request would otherwise try each page pattern before reaching it.
    path("api/", api.urls),
    path("", home, name="home"),
    *auth_urlpatterns,
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("downloads.urls")),
    path("", include("payments.urls")),
    path("", include("accounts.urls")),
    path("", include("portal.urls")),
    path("", include("rewards.urls")),
]

# The branded 500 page, rendered from settings alone (config/errors.py).
handler500 = "config.errors.server_error"
