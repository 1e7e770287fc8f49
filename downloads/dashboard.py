"""The dashboard's download-history panel (composed by the site app, portal)."""

from django.http import HttpRequest

from core.registry import DashboardPanel
from wallet.selectors import default_currency

from . import links, selectors


def panels(request: HttpRequest) -> list[DashboardPanel]:
    user = request.user
    if not user.is_authenticated:
        return []
    currency = default_currency()
    records = selectors.history(user_id=user.pk, limit=10)
    unlocks = selectors.unlock_ids(user_id=user.pk, item_ids=[r.item_id for r in records])
    rows = []
    for record in records:
        unlock_id = unlocks.get(record.item_id)
        redownload = links.url(user_id=user.pk, kind="unl", object_id=unlock_id) if unlock_id else None
        rows.append({"record": record, "charged": currency.to_decimal(record.charged), "redownload_url": redownload})
    return [
        DashboardPanel(
            key="downloads",
            order=30,
            template="downloads/_panel_history.html",
            context={
                "download_rows": rows,
                "download_jobs": selectors.recent_jobs(user_id=user.pk, limit=3),
                "songs_downloaded": selectors.total_songs_downloaded(user_id=user.pk),
                "free_tier": selectors.free_tier(user_id=user.pk),
            },
        )
    ]
