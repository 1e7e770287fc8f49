from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as site_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """The reference: Django's request/response cycle and a JSON body, nothing else."""
    return JsonResponse({"email": "bench@example.com", "credit_balance": 45.5})


urlpatterns = [path("bench/bare", bare), *site_urlpatterns]
