from django.urls import path

from . import views

app_name = "downloads"

urlpatterns = [
    path("downloads/", views.catalog, name="catalog"),
    path("downloads/jobs/", views.job_start, name="job_start"),
    path("downloads/jobs/<str:job_id>/", views.job_detail, name="job"),
    path("downloads/jobs/<str:job_id>/status/", views.job_status, name="job_status"),
    path("downloads/items/<int:pk>/", views.item_detail, name="item"),
    path("downloads/items/<int:pk>/download/", views.item_download, name="item_download"),
    path("downloads/upload/", views.ea_upload, name="upload"),
    path("downloads/file/<str:token>/", views.signed_file, name="file"),
]
