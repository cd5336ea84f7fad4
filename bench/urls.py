"""The service's URLs and, beside them, the ceiling: a bare DRF view behind the same
authentication, permission, renderer and middleware as every API endpoint."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from socialhub.urls import handler400, handler403, handler404, handler500  # noqa: F401
from socialhub.urls import urlpatterns as service_urlpatterns


class Ceiling(APIView):
    """Authenticates the caller's JWT and answers a constant body: what any endpoint costs
    before it does its own work."""

    def get(self, request):
        return Response({"ok": True})

    def delete(self, request):
        return Response({"ok": True})


urlpatterns = [path("api/v1/bench/ceiling", Ceiling.as_view()), *service_urlpatterns]
