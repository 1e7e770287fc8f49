from django.urls import path

from . import notification_views, views

app_name = "portal"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/history.csv", views.history_csv, name="history_csv"),
    path("notifications/", notification_views.notification_list, name="notifications"),
    path("notifications/<int:notification_id>/read/", notification_views.notification_read, name="notification_read"),
    path("notifications/read-all/", notification_views.notifications_read_all, name="notifications_read_all"),
    path("live/state.json", notification_views.live_state, name="live_state"),
]
