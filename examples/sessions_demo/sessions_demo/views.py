"""Async views: on Django >= 5.1 every session access here is native async."""

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from django_async_redis.sessions import aend_user_sessions, auser_sessions


async def _user(request: HttpRequest) -> Any:
    return await request.auser()


async def home(request: HttpRequest) -> HttpResponse:
    user = await _user(request)
    live = await auser_sessions(user) if user.is_authenticated else []
    context = {
        "current_user": user,
        "sessions": live,
        "current_key": request.session.session_key,
    }
    return TemplateResponse(request, "home.html", context)


async def logout_everywhere(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    user = await _user(request)
    if user.is_authenticated:
        await aend_user_sessions(user)
        # This session is gone from Redis too; drop its key so the middleware
        # deletes the cookie instead of trying to save a session that ended.
        await request.session.aflush()
    return redirect("home")


async def logout_other_devices(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    user = await _user(request)
    if user.is_authenticated:
        await aend_user_sessions(user, keep=request.session.session_key)
    return redirect("home")
