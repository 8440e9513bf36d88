"""The store page's backup action (the API's routes are in backups/api/urls.py)."""

from django.urls import path

from backups import views

urlpatterns = [
    path("stores/<str:store_id>/backups", views.store_backup, name="store-backup"),
]
