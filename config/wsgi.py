"""The WSGI app (gunicorn `config.wsgi:application`). The site is served over ASGI
(`config.asgi`, for the live-update sockets); this stays for WSGI-only tools and tests.

Refuses to start outside DEBUG with the development SECRET_KEY (issue 11 item 16): that key is
published in this repository, so sessions, PIN-recovery links and CSRF tokens signed with it
could be forged by anyone. `config.settings_production` refuses it too; this catches a server
started on the embedded default's settings with DEBUG turned off.
"""

import os

from django.core.wsgi import get_wsgi_application

from config.startup import refuse_the_development_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

refuse_the_development_key()
