from allauth.account.views import LogoutView
from django.urls import path, re_path
from django.views.generic import RedirectView

from . import settings_views, views

app_name = "accounts"

urlpatterns = [
    path("dashboard/sign-out-others/", views.sign_out_others, name="sign_out_others"),
    path("account/settings/", settings_views.member_settings, name="settings"),
]

# Mounted at the root by config/urls.py ahead of allauth's own URLs: the sign-in page with the
# shared brute-force answers, under allauth's name and the `login`/`logout` names base.html and
# LOGIN_URL have always used. Every allauth page that counts attempts in the cache (sign-up, PIN
# recovery and change, email management; same paths and names as allauth's) answers a 503 page
# when the counters cannot be reached (views.FailClosedWithoutCounters).
auth_urlpatterns = [
    # Django's set_language view (django.conf.urls.i18n), under its usual path and name, wrapped
    # to save a signed-in member's choice too.
    path("i18n/setlang/", settings_views.set_language, name="set_language"),
    path("accounts/login/", views.PinLoginView.as_view(), name="account_login"),
    path("accounts/login/", views.PinLoginView.as_view(), name="login"),
    path("accounts/signup/", views.PinSignupView.as_view(), name="account_signup"),
    path("accounts/password/reset/", views.PinResetRequestView.as_view(), name="account_reset_password"),
    re_path(
        r"^accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
        views.PinResetFromKeyView.as_view(),
        name="account_reset_password_from_key",
    ),
    path("accounts/password/change/", views.PinChangeView.as_view(), name="account_change_password"),
    path("accounts/email/", views.EmailManageView.as_view(), name="account_email"),
    # The admin's own form checks the old PIN with check_password (no counters, no lockout): a
    # staff member changes their PIN on the protected page like every member.
    path("admin/password_change/", RedirectView.as_view(pattern_name="account_change_password")),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
]
