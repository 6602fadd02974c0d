"""The URLs of the admin tests: Django's admin site, with the Cache section installed."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
