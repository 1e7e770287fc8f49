from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from core.registry import DashboardPanel

register = template.Library()


@register.simple_tag(takes_context=True)
def render_panel(context: template.Context, panel: DashboardPanel) -> SafeString:
    """Render a panel an app declared (core.registry) with its own context plus the request."""
    return render_to_string(panel.template, dict(panel.context), request=context.get("request"))
