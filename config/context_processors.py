from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    return {"site_name": settings.GOLDBOOK_SITE_NAME, "currency_name": settings.GOLDBOOK_CURRENCY_NAME}
