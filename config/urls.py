"""URL map: the REST API under /api/v1, the docs, the operator console (admin) and the tenant pages."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import admin as console
from config import health, metrics_views, views

api_v1 = [
    path("auth/", include("accounts.api.urls")),
    path("", include("backups.api.urls")),  # before stores': its catch-all answers unknown /stores/... routes
    path("", include("stores.api.urls")),
    path("health", health.HealthView.as_view(), name="health"),
    path("health/live", health.LiveView.as_view(), name="health-live"),
    path("health/ready", health.ReadyView.as_view(), name="health-ready"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("metrics", metrics_views.MetricsView.as_view(), name="metrics"),
    path("metrics/json", metrics_views.MetricsJsonView.as_view(), name="metrics-json"),
]

urlpatterns = [
    path("", views.RootView.as_view(), name="root"),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", views.api_not_found),
    path("admin/dashboard", admin.site.admin_view(console.dashboard), name="console-dashboard"),
    path("admin/", admin.site.urls),
    path("metrics", metrics_views.scrape, name="metrics-scrape"),
    # The tenant pages (and the icon browsers ask for on pages that do not name one, e.g. the admin's).
    path("favicon.ico", views.favicon),
    path("", include("accounts.urls")),
    path("", include("backups.urls")),
    path("", include("stores.urls")),
]

handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
