"""Every label staff read in the admin is marked for translation (issue 12): each model's
verbose name and plural, and each field's verbose name, is a lazy translation proxy, so a new
English-only label fails here instead of showing up untranslated on the Chinese admin."""

from django.apps import apps
from django.conf import settings
from django.utils.functional import Promise

PROJECT_APPS = {"core", "wallet", "accounts", "payments", "downloads", "rewards", "portal"}


def project_models() -> list[type]:
    found = [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]
    # django-simple-history generates Historical* models with generated labels.
    return [m for m in found if not m.__name__.startswith("Historical")]


def test_the_project_apps_are_all_checked() -> None:
    installed = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    assert PROJECT_APPS <= installed
    assert {m._meta.app_label for m in project_models()} >= {"payments", "downloads", "rewards"}


def test_every_model_verbose_name_is_translated() -> None:
    english = [
        f"{m._meta.label}.{attr}"
        for m in project_models()
        for attr in ("verbose_name", "verbose_name_plural")
        if not isinstance(getattr(m._meta, attr), Promise)
    ]
    assert english == []


def test_every_field_verbose_name_is_translated() -> None:
    english = [
        f"{m._meta.label}.{f.name}"
        for m in project_models()
        for f in m._meta.get_fields(include_hidden=True)
        if f.concrete and not f.auto_created and not isinstance(f.verbose_name, Promise)
    ]
    assert english == []


def test_every_help_text_is_translated() -> None:
    english = [
        f"{m._meta.label}.{f.name}"
        for m in project_models()
        for f in m._meta.get_fields()
        if f.concrete and getattr(f, "help_text", "") and not isinstance(f.help_text, Promise)
    ]
    assert english == []
