"""Optional per-app modules other parts of the site look for: `<app>/demo.py` (seed_demo) and
`<app>/dashboard.py` (dashboard panels). An app without the module is simply skipped."""

import importlib
from collections.abc import Iterator
from types import ModuleType

from django.apps import AppConfig, apps


def app_modules(name: str) -> Iterator[tuple[AppConfig, ModuleType]]:
    """Each installed app's `<app>.<name>` module, in INSTALLED_APPS order."""
    for config in apps.get_app_configs():
        module_name = f"{config.name}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise  # the module exists but imports something missing: a real error
        yield config, module
