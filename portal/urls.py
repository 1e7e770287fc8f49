from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/history.csv", views.history_csv, name="history_csv"),
]
