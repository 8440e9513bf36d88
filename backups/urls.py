"""The store page's backup, schedule and restore actions (the API's routes are in backups/api/urls.py)."""

from django.urls import path

from backups import views

urlpatterns = [
    path("stores/<str:store_id>/backups", views.store_backup, name="store-backup"),
    path("stores/<str:store_id>/backups/schedule", views.store_backup_schedule, name="store-backup-schedule-page"),
    path("stores/<str:store_id>/backups/<str:backup_id>/restore", views.store_restore, name="store-restore-page"),
]
