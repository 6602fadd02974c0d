from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from . import api, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("cached/", views.cached_report, name="cached"),
    path("page/", views.cached_page, name="page"),
    path("fragment/", views.cached_fragment, name="fragment"),
    path("race/", views.race, name="race"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="demo/login.html", extra_context={"page": "login"}
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("sessions/", views.sessions, name="sessions"),
    path("sessions/logout-others/", views.logout_other_devices, name="logout-others"),
    path("sessions/logout-everywhere/", views.logout_everywhere, name="logout-everywhere"),
    path("api/stats", api.stats, name="api-stats"),
    path("api/traffic", api.traffic, name="api-traffic"),
    path("api/race", api.race, name="api-race"),
    path("api/health", api.health, name="api-health"),
    # Django's admin, with the Cache section (django_async_redis.admin).
    path("admin/", admin.site.urls),
]
