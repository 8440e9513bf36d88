"""/api/v1/stores/{id}/backups, .../backups/schedule and .../restore (before the stores' catch-all for unknown
routes)."""

from django.urls import path

from backups.api import views

urlpatterns = [
    path("stores/<str:store_id>/backups", views.StoreBackupsView.as_view(), name="store-backups"),
    path("stores/<str:store_id>/restore", views.StoreRestoreView.as_view(), name="store-restore"),
    path(
        "stores/<str:store_id>/backups/schedule", views.StoreBackupScheduleView.as_view(), name="store-backup-schedule"
    ),
]
