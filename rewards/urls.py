from django.urls import path

from . import views

app_name = "rewards"

urlpatterns = [
    path("rewards/", views.store, name="store"),
    path("rewards/<int:reward_id>/redeem/", views.redeem, name="redeem"),
    path("rewards/leaderboard/", views.leaderboard, name="leaderboard"),
    path("rewards/bounties/", views.bounties, name="bounties"),
    path("rewards/bounties/<int:bounty_id>/", views.bounty_detail, name="bounty"),
    path("rewards/bounties/<int:bounty_id>/award/", views.bounty_award, name="bounty_award"),
    path("rewards/bounties/<int:bounty_id>/cancel/", views.bounty_cancel, name="bounty_cancel"),
    path("r/<str:code>", views.referral_landing, name="referral"),
    path("r/<str:code>/", views.referral_landing),
]
