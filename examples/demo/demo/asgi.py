"""ASGI entry point: ``uvicorn demo.asgi:application`` (scripts/demo runs it).

The admin's CSS and JavaScript are served by Django's static files handler:
uvicorn serves no files, and a local demo needs no separate web server.
"""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

application = ASGIStaticFilesHandler(get_asgi_application())
