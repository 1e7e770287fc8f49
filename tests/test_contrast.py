"""Text contrast in static/css/goldbook.css: at least 4.5:1 (WCAG AA for body text).

The stylesheet keeps its colours in custom properties on :root, so the test can read them: every
rule that sets both a text colour and a solid background is checked as a pair, and so is every
text colour the pages put on their surfaces (white cards, the grey page, the pale gold panels, the
dark header)."""

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[1] / "static" / "css" / "goldbook.css").read_text()
AA = 4.5


def _variables() -> dict[str, str]:
    root = re.search(r":root\s*\{(.*?)\}", CSS, re.S)
    assert root is not None
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", root.group(1)))


VARS = _variables()


def _colour(value: str) -> str | None:
    """A solid colour as #rrggbb, or None (gradients, rgb() with alpha, inherit...)."""
    value = value.strip().removesuffix("!important").strip()
    if m := re.fullmatch(r"var\(--([\w-]+)\)", value):
        return VARS.get(m.group(1))
    if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value
    return None


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _rule_pairs() -> list[tuple[str, str, str]]:
    pairs = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", CSS):
        decls = dict(
            (k.strip(), v.strip()) for k, v in re.findall(r"([\w-]+)\s*:\s*([^;]+);?", body) if not k.startswith("--")
        )
        text = _colour(decls.get("color", ""))
        ground = _colour(decls.get("background", decls.get("background-color", "")))
        if text and ground:
            pairs.append((selector.strip(), text, ground))
    return pairs


RULE_PAIRS = _rule_pairs()
SURFACES = ("white", "ink-100", "gold-50")  # cards, the page, the gold panels and table highlights
TEXT_ON_SURFACES = ("ink-900", "ink-700", "ink-500", "gold-700", "gold-800", "green-600", "red-600", "blue-600")
HEADER_TEXT = ("white", "gold-300")


def test_the_stylesheet_is_readable_by_this_test():
    assert len(VARS) > 15 and len(RULE_PAIRS) > 15


@pytest.mark.parametrize(("selector", "text", "ground"), RULE_PAIRS, ids=[p[0][:40] for p in RULE_PAIRS])
def test_rules_with_text_and_background_have_enough_contrast(selector, text, ground):
    assert ratio(text, ground) >= AA, f"{selector}: {text} on {ground} is {ratio(text, ground):.2f}:1"


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("text", TEXT_ON_SURFACES)
def test_text_colours_on_the_page_surfaces(text, surface):
    assert ratio(VARS[text], VARS[surface]) >= AA, f"--{text} on --{surface}: {ratio(VARS[text], VARS[surface]):.2f}:1"


@pytest.mark.parametrize("text", HEADER_TEXT)
def test_header_text_on_the_dark_header(text):
    assert ratio(VARS[text], VARS["ink-900"]) >= AA


def test_the_ratio_is_wcag_s():
    assert round(ratio("#000000", "#ffffff"), 1) == 21.0
    assert ratio("#78716c", "#f5f5f4") < AA  # the old muted grey on the page failed
