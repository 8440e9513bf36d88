"""/api/v1/stores/{id}/backups (before the stores' catch-all for unknown /stores/... routes)."""

from django.urls import path

from backups.api import views

urlpatterns = [
    path("stores/<str:store_id>/backups", views.StoreBackupsView.as_view(), name="store-backups"),
]
