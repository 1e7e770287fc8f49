from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from accounts.urls import auth_urlpatterns
from portal.fraud_admin import review_queue_view
from portal.views import home

from .api import api

admin.site.site_header = _("Goldbook administration")
admin.site.site_title = _("Goldbook admin")

urlpatterns = [
    # First: every API request would otherwise try each page pattern before reaching it.
    path("api/", api.urls),
    path("", home, name="home"),
    *auth_urlpatterns,
    path("accounts/", include("allauth.urls")),
    path("admin/review-queue/", review_queue_view, name="fraud_review_queue"),  # issue 13: fraud signals
    path("admin/", admin.site.urls),
    path("", include("downloads.urls")),
    path("", include("payments.urls")),
    path("", include("accounts.urls")),
    path("", include("portal.urls")),
    path("", include("rewards.urls")),
]

# The branded 500 page, rendered from settings alone (config/errors.py).
handler500 = "config.errors.server_error"
