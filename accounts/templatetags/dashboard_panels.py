from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag(takes_context=True)
def render_panel(context: template.Context, panel: dict[str, Any]) -> SafeString:
    """Render a panel from `<app>/dashboard.py` with its own context (plus request, user, csrf)."""
    request = context.get("request")
    return render_to_string(panel["template"], dict(panel.get("context") or {}), request=request)
