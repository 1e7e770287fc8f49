"""Every app's router on the one API instance (`core.api`), mounted at /api/ by config.urls.
The site app's `/api/users/*` first: the seed's account endpoints."""

from core.api import api

api.add_router("/", "portal.api.router")
api.add_router("/", "downloads.api.router")
api.add_router("/", "payments.api.router")
api.add_router("/", "rewards.api.router")

__all__ = ["api"]
