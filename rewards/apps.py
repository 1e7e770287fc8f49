from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import registry
        from core.events import Event, subscribe

        from . import dashboard, demo, handlers
        from .models import Award, Bounty, Redemption, RewardDebt

        subscribe(Event.MEMBER_JOINED, handlers.member_joined, name="rewards.member_joined")
        subscribe(Event.PURCHASE_COMPLETED, handlers.purchase_completed, name="rewards.purchase_completed")
        subscribe(Event.EA_REVIEWED, handlers.ea_reviewed, name="rewards.ea_reviewed")

        # Issue 11 item 1: events credit an address only once it is verified; they wait until then.
        from allauth.account.signals import email_confirmed

        email_confirmed.connect(handlers.email_confirmed, dispatch_uid="rewards.email_confirmed")

        registry.register_dashboard_panels("rewards", dashboard.panels)
        registry.register_demo_data("rewards", demo.seed)
        # What each history detail reads besides the cause itself, prefetched per page of history.
        related: dict[type, tuple[str, ...]] = {Award: ("rule",), Redemption: ("reward",)}
        for model in (Award, RewardDebt, Bounty, Redemption):
            registry.register_history_details(model, model.history_fields, related=related.get(model, ()))
