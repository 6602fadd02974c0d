"""Settings of the demo project (scripts/demo sets the environment).

Environment:
    REDIS_URL         the server (scripts/demo starts an embedded Valkey and sets it)
    DEMO_STATE_DIR    where the SQLite file lives (default: .cache/demo in the checkout)
    DEMO_SECRET_KEY   SECRET_KEY (a fixed, public default: this is a local demo)
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("DEMO_STATE_DIR", BASE_DIR.parent.parent / ".cache" / "demo"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

SECRET_KEY = os.environ.get("DEMO_SECRET_KEY", "django-async-redis-demo-not-a-secret")
# Off, so pages look as they would in production. The demo's own pages have
# no static files (their CSS and JavaScript are inline); the admin's are
# served by asgi.py, as uvicorn serves none.
DEBUG = False
STATIC_URL = "static/"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The admin's Cache section: /admin/django_async_redis_admin/cache/
    "django_async_redis.admin",
    # No django.contrib.sessions: sessions live in Redis, not in a table.
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo.urls"
ASGI_APPLICATION = "demo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(STATE_DIR / "demo.sqlite3"),
    }
}

CACHES = {
    # What the pages and the sessions use: django-async-redis, with its own
    # metrics on (cache.stats() feeds the dashboard) and the client cache
    # (hot reads answered from the process, kept exact by the server).
    "default": {
        "BACKEND": "django_async_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "demo",
        "OPTIONS": {"METRICS": True, "CLIENT_CACHE": True},
    },
    # The race page's two contenders, on the same server, each under its own
    # prefix: ours, uncounted, and Django's built-in Redis backend.
    "race-ours": {
        "BACKEND": "django_async_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "race-ours",
    },
    "race-django": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "race-django",
    },
}

SESSION_ENGINE = "django_async_redis.sessions"
SESSION_CACHE_ALIAS = "default"

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/sessions/"
LOGOUT_REDIRECT_URL = "/login/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}
