"""``manage.py demo_user NAME PASSWORD``: create the demo's user, or reset its password.

The user is staff with the Cache section's three permissions (view, change,
delete) and nothing else: the admin shows it the Cache section only.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandParser

CACHE_PERMISSIONS = ("view_cache", "change_cache", "delete_cache")


class Command(BaseCommand):
    help = "Create the demo user, or set its password if it exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("password")

    def handle(self, *args: Any, username: str, password: str, **options: Any) -> None:
        user, created = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = True
        user.save()
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="django_async_redis_admin",
                codename__in=CACHE_PERMISSIONS,
            )
        )
        self.stdout.write(f"{'created' if created else 'updated'} user {username}")
