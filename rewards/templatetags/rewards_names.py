"""`{{ user|member_name }}`: the name rewards pages show for a member (`selectors.member_name`)."""

from typing import Any

from django import template

from ..selectors import member_name

register = template.Library()


@register.filter(name="member_name")
def member_name_filter(user: Any) -> str:
    return member_name(user) if user is not None else ""
