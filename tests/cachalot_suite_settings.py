"""Settings for django-cachalot's own test suite, run by tests/test_app_cachalot.py.

Modelled on the settings its repository runs the suite with (its
``settings.py``, not in the wheel), with our backend as both caches and two
SQLite databases (its multi-database tests need a second alias; PostgreSQL and
MySQL are not available here, so its PostgreSQL-only tests skip themselves).
The parent test passes the two cache URLs in the environment.
"""

from __future__ import annotations

import os
import unittest
from typing import Any

from django.test.runner import DiscoverRunner
from django.test.utils import iter_test_cases

CACHE_URL = os.environ["CACHALOT_SUITE_CACHE_URL"]
SECOND_CACHE_URL = os.environ["CACHALOT_SUITE_SECOND_CACHE_URL"]
BACKEND = "django_async_redis.cache.RedisCache"

SECRET_KEY = "cachalot-suite"
USE_TZ = False  # as upstream: its tests turn time zones on where they need them
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# In-memory test databases (Django names each after its alias). Its
# thread-safety tests skip themselves on SQLite either way.
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "second": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}
DATABASE_ROUTERS = ["cachalot.tests.db_router.PostgresRouter"]

CACHES = {
    "default": {"BACKEND": BACKEND, "LOCATION": CACHE_URL},
    "second": {"BACKEND": BACKEND, "LOCATION": SECOND_CACHE_URL},
}

INSTALLED_APPS = [
    "cachalot",
    "cachalot.admin_tests",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.postgres",  # its test models declare PostgreSQL fields
    "django.contrib.sessions",
    "django.contrib.admin",
    "django.contrib.messages",
]
MIGRATION_MODULES = {"cachalot": "cachalot.tests.migrations"}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "APP_DIRS": True,
        "OPTIONS": {"extensions": ["cachalot.jinja2ext.cachalot"]},
    },
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.cachalot_suite_urls"

CACHALOT_ENABLED = True
# Our backend is not on cachalot's list of backends (cachalot.W001, see
# docs/third-party-apps.md): silenced, as a project using it would.
SILENCED_SYSTEM_CHECKS = ["cachalot.W001"]


class SuiteRunner(DiscoverRunner):
    """Django's runner, minus the two tests of the suite that cannot hold here.

    Each is named with the reason; tests/test_app_cachalot.py checks that no
    other test is left out and covers what each one's subject is in its own way.
    """

    LEFT_OUT = {
        # Renders django-debug-toolbar's Cachalot panel (a view of cachalot's
        # bookkeeping, not a cache call); needs the toolbar installed and routed.
        "cachalot.tests.debug_toolbar.DebugToolbarTestCase": "needs django-debug-toolbar",
        # Asserts that cachalot's compatibility checks give exactly [W002] for an
        # unsupported database; with any cache backend outside cachalot's
        # allowlist (ours) they also give W001, by design of that check.
        "cachalot.tests.settings.SettingsTestCase.test_database_compatibility": (
            "expects no cachalot.W001, which our backend gets"
        ),
    }

    def build_suite(self, *args: Any, **kwargs: Any) -> unittest.TestSuite:
        suite = super().build_suite(*args, **kwargs)
        kept: list[unittest.TestCase] = []
        for test in iter_test_cases(suite):
            if self._left_out(test.id()):
                print(f"cachalot suite: left out {test.id()}")
            else:
                kept.append(test)
        print(f"cachalot suite: {len(kept)} tests kept")
        return unittest.TestSuite(kept)

    def _left_out(self, test_id: str) -> bool:
        return any(test_id == name or test_id.startswith(name + ".") for name in self.LEFT_OUT)


TEST_RUNNER = f"{__name__}.SuiteRunner"
