"""The member's settings page: what they may choose and the rules for it."""

import re
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import User

DISPLAY_NAME_MIN = 2
DISPLAY_NAME_MAX = 30
# Letters and digits of any script (Chinese names included), single spaces and . _ - between them.
_NAME_RE = re.compile(r"[^\W_](?:[\w.\- ]*[^\W_])?")
# "Member #12" (and its Chinese form) is what members without a name are shown as.
_RESERVED_RE = re.compile(r"(member|会员)\s*#?\s*\d+")
_NAME_HELP = _(
    "Other members see this name on leaderboards, bounties and what you share. %(min)s to %(max)s "
    "characters: letters (any language), digits, spaces, dots, dashes and underscores. Leave it "
    "empty to be shown as “Member #%(id)s”; your email address is never shown."
)


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone this machine knows, "Region/City" ones first-class (no "Etc/GMT+8", whose
    sign confuses everybody, and no legacy aliases such as "PRC")."""
    return tuple(sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))))


def validate_time_zone(value: str) -> None:
    if value == "":
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            _("“%(zone)s” is not a time zone we know."), params={"zone": value}, code="zone"
        ) from None
    if value not in time_zone_names():
        raise ValidationError(_("“%(zone)s” is not a time zone we know."), params={"zone": value}, code="zone")


def validate_display_name(value: str) -> None:
    if value == "":
        return
    if not DISPLAY_NAME_MIN <= len(value) <= DISPLAY_NAME_MAX:
        raise ValidationError(
            _("A display name is %(min)s to %(max)s characters long."),
            params={"min": DISPLAY_NAME_MIN, "max": DISPLAY_NAME_MAX},
            code="length",
        )
    if _RESERVED_RE.fullmatch(value.casefold()):
        raise ValidationError(_("That name looks like the one we show for members without one."), code="reserved")
    if "  " in value or not _NAME_RE.fullmatch(value):
        raise ValidationError(
            _("Use letters, digits and single spaces, dots, dashes or underscores between them."), code="characters"
        )


class MemberSettingsForm(forms.Form):
    display_name = forms.CharField(
        label=_("Display name"), required=False, max_length=80, validators=[validate_display_name], strip=True
    )
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("Follow my browser")), *[(code, name) for code, name in settings.LANGUAGES]],
    )
    # A plain field with a select: our own message for a zone that is not one, not "Select a valid choice".
    time_zone = forms.CharField(
        label=_("Time zone"), required=False, max_length=64, validators=[validate_time_zone], widget=forms.Select
    )
    display_currency = forms.ChoiceField(
        label=_("Display currency"),
        choices=[(code, code) for code in settings.GOLDBOOK_DISPLAY_CURRENCIES],
        help_text=_("Prices are paid in USD; we show the equivalent in this currency beside them."),
    )

    def __init__(self, data: QueryDict | None = None, *, user: User) -> None:
        initial = {name: getattr(user, name) for name in ("display_name", "language", "time_zone", "display_currency")}
        super().__init__(data, initial=initial)
        default_zone = settings.GOLDBOOK_DEFAULT_TIME_ZONE
        zone = self.fields["time_zone"]
        assert isinstance(zone.widget, forms.Select)  # noqa: S101
        zone.widget.choices = [
            ("", pgettext_lazy("time zone", "Site default (%(zone)s)") % {"zone": default_zone}),
            *[(z, z) for z in time_zone_names()],
        ]
        zone.help_text = _("Dates and times on every page are shown in this zone.")
        self.fields["display_name"].help_text = _NAME_HELP % {
            "min": DISPLAY_NAME_MIN,
            "max": DISPLAY_NAME_MAX,
            "id": user.pk,
        }
        self.fields["display_name"].widget.attrs.update(
            {"maxlength": str(DISPLAY_NAME_MAX), "autocomplete": "nickname"}
        )
