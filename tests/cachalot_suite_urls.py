"""URLs for django-cachalot's own suite (tests/cachalot_suite_settings.py).

Its admin tests post to the admin.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
