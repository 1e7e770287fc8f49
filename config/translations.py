"""Compile the translation catalogues (`<app>/locale/*/LC_MESSAGES/django.po` and the project's
`locale/`) into the .mo files Django reads. The .mo files are build output (not in git): `make
install` runs this, and the test suite runs it at start so tests always see the current .po.

Django's `compilemessages` (GNU msgfmt, which also checks that every msgstr keeps its msgid's
%(name)s placeholders) when msgfmt is installed, as CI has it; otherwise polib writes the same
.mo, so `make run` still needs nothing but Python.
"""

import os
import shutil
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SKIP = {".venv", "node_modules", "staticfiles", ".git"}


def catalogues(base: Path = BASE_DIR) -> list[Path]:
    found = [p for p in base.glob("*/locale/*/LC_MESSAGES/django.po") if p.parts[len(base.parts)] not in SKIP]
    return sorted([*found, *base.glob("locale/*/LC_MESSAGES/django.po")])


def stale(base: Path = BASE_DIR) -> list[Path]:
    """Catalogues whose .mo is missing or older than the .po."""
    out = []
    for po in catalogues(base):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            out.append(po)
    return out


def compile_all(base: Path = BASE_DIR, *, force: bool = False) -> int:
    """Compile what is stale (everything with force); returns how many catalogues were written."""
    todo = catalogues(base) if force else stale(base)
    if not todo:
        return 0
    if shutil.which("msgfmt"):
        from django.core.management import call_command

        # compilemessages walks the current directory (and LOCALE_PATHS) for locale folders.
        cwd = Path.cwd()
        try:
            os.chdir(base)
            call_command("compilemessages", ignore_patterns=sorted(SKIP), verbosity=0)
        finally:
            os.chdir(cwd)
        return len(todo)
    import polib  # type: ignore[import-untyped]

    for po in todo:
        polib.pofile(str(po)).save_as_mofile(str(po.with_suffix(".mo")))
    return len(todo)


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    written = compile_all(force="--force" in sys.argv)
    print(f"Translations: {written} catalogue(s) compiled.")
