from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as site_urlpatterns
from core.db import PreparedStatement

_ONE_ROUND_TRIP = PreparedStatement("goldbook_bench_one_round_trip", "SELECT %(x)s::int")


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """The reference: Django's request/response cycle and a JSON body, nothing else."""
    return JsonResponse({"email": "bench@example.com", "credit_balance": 45.5})


@csrf_exempt
def bare_db(request: HttpRequest) -> JsonResponse:
    """The bare view plus one trivial prepared query: what a single database round trip costs,
    the floor for any endpoint that must read the database (the balance must: it reads the
    account row every time)."""
    _ONE_ROUND_TRIP.fetchone({"x": 1})
    return JsonResponse({"email": "bench@example.com", "credit_balance": 45.5})


urlpatterns = [path("bench/bare", bare), path("bench/bare-db", bare_db), *site_urlpatterns]
