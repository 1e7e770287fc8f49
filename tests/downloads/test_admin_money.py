"""Item prices in the admin: typed and shown in credits, stored in minor units (issue 13)."""

import pytest
from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.forms.models import model_to_dict
from django.urls import reverse

from downloads.models import Item
from tests.factories import make_item

pytestmark = pytest.mark.django_db


def posted(obj, **overrides):
    data = {k: v for k, v in model_to_dict(obj).items() if v is not None and not isinstance(v, FieldFile)}
    data.update(overrides)
    return {k: ("on" if v is True else v) for k, v in data.items() if v is not False}


def test_a_download_price_is_typed_in_credits(admin_client):
    item = make_item(title="Track")
    url = reverse("admin:downloads_item_change", args=[item.pk])
    assert f'value="{item.price / 100:.2f}"' in admin_client.get(url).content.decode()
    response = admin_client.post(url, posted(item, price="0.75"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Item.objects.get(pk=item.pk).price == 75
    response = admin_client.post(url, posted(item, price="0.755"))
    assert "at most 2 decimal places" in response.content.decode()
    song_price = f'value="{settings.GOLDBOOK_SONG_PRICE:.2f}"'  # the default, in credits
    assert song_price in admin_client.get(reverse("admin:downloads_item_add")).content.decode()
