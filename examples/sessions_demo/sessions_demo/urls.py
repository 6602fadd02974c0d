from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("logout-everywhere/", views.logout_everywhere, name="logout-everywhere"),
    path("logout-other-devices/", views.logout_other_devices, name="logout-other-devices"),
    path("admin/", admin.site.urls),
]
