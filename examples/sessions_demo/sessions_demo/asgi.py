"""ASGI entry point: ``uvicorn sessions_demo.asgi:application``."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessions_demo.settings")

application = get_asgi_application()

if settings.DEBUG:
    # uvicorn serves no static files; in DEBUG, let Django serve the admin's.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
