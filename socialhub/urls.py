from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import bluesky
from socialhub.api import views as api_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", api_views.healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("scheduling.urls")),
    # Bluesky identifies this service by the URL of this document (BLUESKY_CLIENT_ID).
    path(
        "oauth/bluesky/client-metadata.json",
        bluesky.client_metadata,
        name="bluesky-client-metadata",
    ),
]
if settings.SOCIALHUB_SANDBOX:
    urlpatterns.append(path("sandbox/", include("accounts.sandbox_urls")))
# Unknown API paths answer the JSON envelope even with DEBUG on.
urlpatterns.append(re_path(r"^api/", api_views.not_found_view))

handler400 = "socialhub.api.views.bad_request_view"
handler403 = "socialhub.api.views.permission_denied_view"
handler404 = "socialhub.api.views.not_found_view"
handler500 = "socialhub.api.views.server_error_view"
