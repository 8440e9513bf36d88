"""Routes of the store pages (the stores API lives in stores/api/urls.py)."""

from django.urls import path

from stores import views

urlpatterns = [
    path("dashboard", views.dashboard, name="dashboard"),
    path("stores/new", views.store_create, name="store-create"),
    path("stores/<str:store_id>", views.store_detail, name="store-detail"),
    path("stores/<str:store_id>/live", views.store_live, name="store-live"),
    path("stores/<str:store_id>/credentials", views.store_credentials, name="store-credentials"),
    path("stores/<str:store_id>/delete", views.store_delete, name="store-delete"),
    path("stores/<str:store_id>/retry", views.store_retry, name="store-retry"),
    path("stores/<str:store_id>/suspend", views.store_suspend, name="store-suspend"),
    path("stores/<str:store_id>/resume", views.store_resume, name="store-resume"),
    path("stores/<str:store_id>/upgrade", views.store_upgrade, name="store-upgrade"),
]
