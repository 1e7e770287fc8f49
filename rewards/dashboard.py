"""The rewards profile widget on the dashboard: balance, rank, badges, title, redeem button."""

from django.http import HttpRequest

from core.registry import DashboardPanel

from . import selectors, services


def panels(request: HttpRequest) -> list[DashboardPanel]:
    if not request.user.is_authenticated:
        return []
    services.profile_ensure(user_id=request.user.pk)
    widget = selectors.profile_widget(user_id=request.user.pk)
    referral_url = request.build_absolute_uri(f"/r/{widget.referral_code}") if widget.referral_code else ""
    return [
        DashboardPanel(
            order=20,
            key="rewards",
            template="rewards/_panel_profile.html",
            context={"widget": widget, "referral_url": referral_url},
        )
    ]
