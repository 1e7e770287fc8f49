"""Issue 11 item 16: the development defaults fail closed outside DEBUG."""

import importlib
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from accounts.models import User
from config.settings import INSECURE_DEV_SECRET_KEY


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
    assert not User.objects.exists()  # no superuser with a published PIN


def load_wsgi():
    """What gunicorn does at start: import `config.wsgi` (afresh, under the current settings)."""
    sys.modules.pop("config.wsgi", None)
    return importlib.import_module("config.wsgi")


def test_the_wsgi_app_refuses_the_development_key_without_debug(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = INSECURE_DEV_SECRET_KEY
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_wsgi()


@pytest.mark.parametrize(("debug", "key"), [(True, INSECURE_DEV_SECRET_KEY), (False, "k" * 50)])
def test_the_wsgi_app_starts_in_debug_or_with_a_real_key(settings, debug, key):
    settings.DEBUG = debug
    settings.SECRET_KEY = key
    assert callable(load_wsgi().application)
