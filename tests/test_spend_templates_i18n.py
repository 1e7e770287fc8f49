"""The templates of payments, downloads and rewards show no text outside translation tags, and
their zh_Hans catalogues translate every string (issue 12)."""

import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

APPS = ("payments", "downloads", "rewards")
BASE = Path(settings.BASE_DIR)
BLOCKS = re.compile(r"{% blocktranslate.*?{% endblocktranslate %}|<style.*?</style>|<script.*?</script>|{#.*?#}", re.S)
TAGS = re.compile(r"{%.*?%}|{{.*?}}", re.S)
ATTRS = re.compile(r'\b(?:alt|placeholder|aria-label|title)="([^"]*)"')
HTML = re.compile(r"<[^>]*>|&[a-z]+;|&#\d+;")
# Names that read the same in every language: a hash algorithm, a hex address's prefix.
UNTRANSLATABLE = re.compile(r"SHA-256|\b0x…")


def visible_text(source: str) -> tuple[list[str], list[str]]:
    """(words outside translation tags, attribute values a reader sees that are not translated)."""
    text = UNTRANSLATABLE.sub(" ", BLOCKS.sub(" ", source))
    attrs = [v for v in ATTRS.findall(text) if re.search(r"[A-Za-z]", TAGS.sub("", v))]
    words = re.findall(r"[A-Za-z][A-Za-z']+", HTML.sub(" ", TAGS.sub(" ", text)))
    return words, attrs


@pytest.mark.parametrize("template", sorted(str(p) for app in APPS for p in (BASE / app / "templates").rglob("*.html")))
def test_no_visible_text_outside_translation_tags(template):
    words, attrs = visible_text(Path(template).read_text())
    assert not words and not attrs, (words, attrs)


def test_the_checker_catches_an_unmarked_string():
    assert visible_text('<p title="Hi">Hello {% translate "x" %}</p>') == (["Hello"], ["Hi"])


@pytest.mark.parametrize("app", APPS)
def test_every_catalogue_string_is_translated(app):
    po = BASE / app / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
