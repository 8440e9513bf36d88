"""/api/v1/stores/{id}/backups and .../backups/schedule (before the stores' catch-all for unknown routes)."""

from django.urls import path

from backups.api import views

urlpatterns = [
    path("stores/<str:store_id>/backups", views.StoreBackupsView.as_view(), name="store-backups"),
    path(
        "stores/<str:store_id>/backups/schedule", views.StoreBackupScheduleView.as_view(), name="store-backup-schedule"
    ),
]
