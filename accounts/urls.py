from allauth.account.views import LogoutView
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("dashboard/sign-out-others/", views.sign_out_others, name="sign_out_others"),
]

# Mounted at the root by config/urls.py ahead of allauth's own URLs: the sign-in page with the
# shared brute-force answers, under allauth's name and the `login`/`logout` names base.html and
# LOGIN_URL have always used; sign-up and PIN recovery answer a 503 page when their counters
# cannot be reached (views.FailClosedWithoutCounters).
auth_urlpatterns = [
    path("accounts/login/", views.PinLoginView.as_view(), name="account_login"),
    path("accounts/login/", views.PinLoginView.as_view(), name="login"),
    path("accounts/signup/", views.PinSignupView.as_view(), name="account_signup"),
    path("accounts/password/reset/", views.PinResetRequestView.as_view(), name="account_reset_password"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
]
