"""Every string a reader sees is marked for translation, and the zh_Hans catalogues translate all
of it (issue 12: "a test fails when a template string is not marked for translation, or
makemessages finds untranslated strings")."""

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.template.base import Lexer, TokenType

from config.translations import catalogues

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", ".git", "node_modules", "staticfiles", "media", "test-artifacts"}

# Visible text that is the same in every language.
ALLOWED = {"API", "· SHA-256", "0x…"}  # a hash algorithm, a hex prefix
# Attributes a reader sees or hears (a submit button's value is its label).
VISIBLE_ATTRS = {"placeholder", "title", "alt", "aria-label", "aria-description", "aria-placeholder"}
LETTER = re.compile(r"[^\W\d_]")
PLACEHOLDER = "\x00"  # what a translated string or a variable becomes: no letters


def template_files() -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        rel = Path(folder).relative_to(ROOT)
        if "templates" in rel.parts:
            found.extend(Path(folder) / f for f in files if f.endswith((".html", ".txt")))
    return sorted(found)


def _visible_source(text: str) -> str:
    """The template with every tag and variable taken out: translated blocks and variables become
    a placeholder, comments and other tags nothing. What is left is what the author typed."""
    out: list[str] = []
    skip_until: str | None = None
    for token in Lexer(text).tokenize():
        contents = token.contents.strip()
        word = contents.split(" ", 1)[0] if contents else ""
        if skip_until is not None:
            if token.token_type == TokenType.BLOCK and word == skip_until:
                skip_until = None
            continue
        if token.token_type == TokenType.TEXT:
            out.append(token.contents)
        elif token.token_type == TokenType.VAR:
            out.append(PLACEHOLDER)
        elif token.token_type == TokenType.BLOCK:
            if word in ("blocktranslate", "blocktrans"):
                skip_until = "endblock" + word[5:]
                out.append(PLACEHOLDER)
            elif word == "comment":
                skip_until = "endcomment"
            elif word in ("translate", "trans"):
                out.append(PLACEHOLDER)
    return "".join(out)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        values = dict(attrs)
        for name, value in attrs:
            visible = name in VISIBLE_ATTRS or (
                name == "value" and tag == "input" and values.get("type") in ("submit", "button", "reset")
            )
            if visible and value:
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.found.append(data)


def untranslated_text(path: Path) -> list[str]:
    source = _visible_source(path.read_text(encoding="utf-8"))
    if path.suffix == ".txt":  # plain text (emails): all of it is read
        pieces = source.split(PLACEHOLDER)
    else:
        parser = _VisibleText()
        parser.feed(source)
        parser.close()
        pieces = [p for found in parser.found for p in found.split(PLACEHOLDER)]
    flagged = []
    for piece in pieces:
        words = piece.strip()
        if LETTER.search(words) and words not in ALLOWED:
            flagged.append(words)
    return flagged


def test_the_scanner_finds_untranslated_text_and_passes_translated_text(tmp_path):
    """The detector itself: it must flag what a reader would see in English only."""
    sample = tmp_path / "templates" / "sample.html"
    sample.parent.mkdir()
    sample.write_text(
        '{% load i18n %}<h1>Plain heading</h1><p>{% translate "Fine" %}</p>'
        '<input placeholder="Your email"><a title="{% translate \'Fine\' %}" href="/x">{{ name }}</a>'
        "{% blocktranslate %}Also {{ fine }}{% endblocktranslate %}{# a comment #}"
        "{% comment %}Not shown{% endcomment %}<script>var shown = false;</script>"
        '<input type="submit" value="Go now"><span data-x="ignored words">©</span>'
    )
    assert untranslated_text(sample) == ["Plain heading", "Your email", "Go now"]


@pytest.mark.parametrize("path", template_files(), ids=str)
def test_every_visible_template_string_is_marked_for_translation(path):
    flagged = untranslated_text(path)
    assert not flagged, f"{path.relative_to(ROOT)}: text outside {{% translate %}}: {flagged}"


# --- the catalogues ------------------------------------------------------------------------------


def test_there_are_zh_hans_catalogues():
    names = {str(p.relative_to(ROOT)) for p in catalogues()}
    assert {"accounts/locale/zh_Hans/LC_MESSAGES/django.po", "locale/zh_Hans/LC_MESSAGES/django.po"} <= names


@pytest.mark.parametrize("po_path", catalogues(), ids=lambda p: str(p.relative_to(ROOT)))
def test_catalogue_has_no_untranslated_or_fuzzy_entries(po_path):
    po = polib.pofile(str(po_path))
    assert po.metadata.get("Language") == "zh_Hans"
    assert "nplurals=1" in po.metadata.get("Plural-Forms", "")
    assert not [e.msgid for e in po.untranslated_entries()], "untranslated"
    assert not [e.msgid for e in po.fuzzy_entries()], "fuzzy"
    for entry in po.translated_entries():
        # Every %(name)s placeholder survives translation (a missing one raises at render time).
        wanted = set(re.findall(r"%\(\w+\)s", entry.msgid))
        for text in [entry.msgstr, *entry.msgstr_plural.values()] if entry.msgid_plural else [entry.msgstr]:
            if text:
                assert set(re.findall(r"%\(\w+\)s", text)) == wanted, entry.msgid


def _msgids(po_path: Path) -> set[tuple[str, str]]:
    return {(e.msgctxt or "", e.msgid) for e in polib.pofile(str(po_path)) if not e.obsolete}


def test_makemessages_would_add_no_new_msgid(tmp_path):
    """Run `make messages` on a copy of the project: every string it extracts is already in the
    catalogues (so it is translated, by the test above)."""
    if not shutil.which("xgettext"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("xgettext is missing (.ci/run installs Debian's gettext)")
        pytest.skip("xgettext is not installed: apt-get install gettext")
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT,
        copy,
        symlinks=True,
        ignore=shutil.ignore_patterns(*SKIP_DIRS, "__pycache__", "*.mo", "db.sqlite3*", ".mypy_cache", ".ruff_cache"),
    )
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-location", "--no-obsolete", "-v", "0"],
        cwd=copy,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
    )
    new = {}
    for extracted in catalogues(copy):
        ours = ROOT / extracted.relative_to(copy)
        known = _msgids(ours) if ours.exists() else set()
        missing = _msgids(extracted) - known
        if missing:
            new[str(ours.relative_to(ROOT))] = sorted(m[1] for m in missing)
    assert not new, f"Strings not in the catalogues yet (run `make messages` and translate them): {new}"
