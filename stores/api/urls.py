"""/api/v1/stores/... and /api/v1/audit."""

from django.urls import path, re_path

from stores.api import views

urlpatterns = [
    path("stores", views.StoreListCreateView.as_view(), name="store-list"),
    path("stores/<str:store_id>", views.StoreDetailView.as_view(), name="store-detail"),
    path("stores/<str:store_id>/retry", views.StoreRetryView.as_view(), name="store-retry"),
    path("stores/<str:store_id>/logs", views.StoreLogsView.as_view(), name="store-logs"),
    path("stores/<str:store_id>/suspend", views.StoreSuspendView.as_view(), name="store-suspend"),
    path("stores/<str:store_id>/resume", views.StoreResumeView.as_view(), name="store-resume"),
    path("stores/<str:store_id>/upgrade", views.StoreUpgradeView.as_view(), name="store-upgrade"),
    path("stores/<str:store_id>/lifecycle", views.StoreLifecycleView.as_view(), name="store-lifecycle"),
    re_path(r"^stores/.+$", views.StoresUnknownView.as_view()),
    path("audit", views.AuditListView.as_view(), name="audit-list"),
]
