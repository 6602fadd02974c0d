"""The demo's pages: cached views (three ways), sign-in and the user's sessions.

Each cached page says where its content came from and how long the server
took, so the difference between a miss and a hit is visible at a glance.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_page

from django_async_redis.sessions import aend_user_sessions, auser_sessions

REPORT_KEY = "slow-report"
REPORT_TIMEOUT = 30
PAGE_TIMEOUT = 20
# What a "slow" computation costs in this demo: long enough to see, short
# enough not to annoy.
SLOW_SECONDS = 0.3


def _elapsed_ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.1f}"


async def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/dashboard.html", {"page": "dashboard"})


async def cached_report(request: HttpRequest) -> HttpResponse:
    """An async view: ``aget`` first; on a miss, the slow work, then ``aset``."""
    started = time.perf_counter()
    if request.GET.get("fresh"):
        await cache.adelete(REPORT_KEY)
    report = await cache.aget(REPORT_KEY)
    source = "cache"
    if report is None:
        source = "computed"
        await asyncio.sleep(SLOW_SECONDS)  # stands for a slow query or API call
        report = {
            "built_at": time.strftime("%H:%M:%S"),
            "rows": [(n, n * n, sum(range(n))) for n in range(1, 11)],
        }
        await cache.aset(REPORT_KEY, report, timeout=REPORT_TIMEOUT)
    # The default cache is ours; the proxy is typed as a plain BaseCache.
    ttl = await cache.attl(REPORT_KEY)  # type: ignore[attr-defined]
    context = {
        "page": "cached",
        "report": report,
        "source": source,
        "elapsed_ms": _elapsed_ms(started),
        "ttl": ttl,
    }
    return render(request, "demo/cached.html", context)


def _served_from(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Outside cache_page: fill in whether the view ran and how long it all took.

    The placeholders are replaced after cache_page stored the response, so the
    cached copy keeps them and every later hit gets its own figures.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        started = time.perf_counter()
        request.demo_view_ran = False  # type: ignore[attr-defined]
        response = view(request, *args, **kwargs)
        ran = request.demo_view_ran  # type: ignore[attr-defined]
        response.content = response.content.replace(
            b"__SOURCE__", b"rendered now" if ran else b"cache"
        ).replace(b"__ELAPSED__", _elapsed_ms(started).encode())
        return response

    return wrapper


@_served_from
@cache_page(PAGE_TIMEOUT)
def cached_page(request: HttpRequest) -> HttpResponse:
    """A sync view under cache_page: Django's middleware reads and writes it with get/set."""
    request.demo_view_ran = True  # type: ignore[attr-defined]
    time.sleep(SLOW_SECONDS)  # a slow render
    context = {"page": "page", "rendered_at": time.strftime("%H:%M:%S"), "timeout": PAGE_TIMEOUT}
    return render(request, "demo/page.html", context)


class FragmentProbe:
    """Handed to the template: computing it is the slow part {% cache %} skips on a hit."""

    def __init__(self) -> None:
        self.computed = False

    def compute(self) -> list[int]:
        self.computed = True
        time.sleep(SLOW_SECONDS)
        return [n for n in range(2, 120) if all(n % d for d in range(2, int(n**0.5) + 1))]

    def verdict(self) -> str:
        # Rendered after the fragment, so it knows whether the fragment ran.
        return "rendered now" if self.computed else "cache"


def cached_fragment(request: HttpRequest) -> HttpResponse:
    """A sync view whose template caches one fragment with {% cache %}."""
    started = time.perf_counter()
    probe = FragmentProbe()
    context = {"page": "fragment", "probe": probe, "rendered_at": time.strftime("%H:%M:%S")}
    response = render(request, "demo/fragment.html", context)
    response.content = response.content.replace(b"__ELAPSED__", _elapsed_ms(started).encode())
    return response


async def _user(request: HttpRequest) -> Any:
    return await request.auser()


async def sessions(request: HttpRequest) -> HttpResponse:
    user = await _user(request)
    if not user.is_authenticated:
        return redirect(f"/login/?next={request.path}")
    context = {
        "page": "sessions",
        "current_user": user,
        "sessions": await auser_sessions(user),
        "current_key": request.session.session_key,
    }
    return render(request, "demo/sessions.html", context)


async def logout_other_devices(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    user = await _user(request)
    if user.is_authenticated:
        await aend_user_sessions(user, keep=request.session.session_key)
    return redirect("sessions")


async def logout_everywhere(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    user = await _user(request)
    if user.is_authenticated:
        await aend_user_sessions(user)
        # This session ended too: flush it so the middleware drops the cookie
        # instead of saving a session that no longer exists.
        await request.session.aflush()
    return redirect("login")


async def race(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/race.html", {"page": "race"})
