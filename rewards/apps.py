from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.events import Event, subscribe

        from . import handlers

        subscribe(Event.MEMBER_JOINED, handlers.member_joined, name="rewards.member_joined")
        subscribe(Event.PURCHASE_COMPLETED, handlers.purchase_completed, name="rewards.purchase_completed")
        subscribe(Event.EA_REVIEWED, handlers.ea_reviewed, name="rewards.ea_reviewed")
