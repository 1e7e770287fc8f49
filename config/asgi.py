"""The ASGI app (uvicorn `config.asgi:application`, also what `make run` serves): HTTP goes to
Django, `/ws/` to the live-update consumer behind the session (AuthMiddlewareStack).

The origin check refuses sockets opened by pages on other hosts (ALLOWED_HOSTS): the socket
authenticates with the session cookie, which a browser would otherwise send for any site.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Set Django up (apps, models) before the consumer's imports touch them.
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from config.startup import refuse_the_development_key  # noqa: E402
from core.live import MemberConsumer  # noqa: E402

refuse_the_development_key()

websocket_urlpatterns = [path("ws/", MemberConsumer.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
