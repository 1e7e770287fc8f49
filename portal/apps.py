from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The site on top: the home page, the member's dashboard, the `/api/users/*` endpoints,
    the notification centre and demo data — everything that composes several apps. It imports
    the others; none imports it. What it composes, each app declares in its own AppConfig.ready()
    (see core.registry)."""

    name = "portal"
    verbose_name = _("Site")

    def ready(self) -> None:
        from core.events import Event, subscribe

        from . import handlers

        for event, handler in (
            (Event.PURCHASE_COMPLETED, handlers.purchase_completed),
            (Event.PAYMENT_NEEDS_REVIEW, handlers.payment_needs_review),
            (Event.AWARD_GRANTED, handlers.award_granted),
            (Event.AWARD_REVERSED, handlers.award_reversed),
            (Event.BOUNTY_ANSWERED, handlers.bounty_answered),
            (Event.BOUNTY_AWARDED, handlers.bounty_awarded),
            (Event.ADJUSTMENT_APPROVED, handlers.adjustment_approved),
            (Event.EA_REVIEWED, handlers.ea_reviewed),
            (Event.CREDITS_EXPIRING, handlers.credits_expiring),
            (Event.CREDITS_EXPIRED, handlers.credits_expired),
        ):
            subscribe(event, handler, name=f"portal.notify.{handler.__name__}")
        subscribe(Event.LEDGER_AUDITED, handlers.ledger_audited, name="portal.economy.ledger_audited")
