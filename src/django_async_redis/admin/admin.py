"""The Cache section's pages, as the URLs of a ModelAdmin for the unmanaged ``Cache`` model.

Registered on Django's default site when the app is installed. Every URL goes
through ``admin_site.admin_view`` (staff sign-in, CSRF protection, no caching
of the page), then checks the model permission its page needs: view for the
read-only pages, change for TTL and persist, delete for deletions. With
``DJANGO_ASYNC_REDIS_ADMIN["READ_ONLY"]`` no one has change or delete.

Changes follow the admin's own pattern: a GET shows what will happen and asks
to confirm; only a POST with the confirmation (and its CSRF token) acts, then
writes a LogEntry and redirects.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from redis import exceptions as redis_errors

from ..cache import RedisCache
from ..management import inspect
from . import actions, browse, detail, overview, server
from .conf import SETTING, admin_settings
from .models import Cache
from .nodes import target_at, targets

FAILURES = (*inspect.FAILURES, redis_errors.RedisError)


def key_token(key: bytes) -> str:
    """A key as a URL path segment: base64url, no padding (keys may be any bytes)."""
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def key_from_token(token: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as error:
        raise Http404(f"{token!r} is not a key of this page's form") from error


# django-stubs declares ModelAdmin generic, Django's class is not subscriptable:
# the ignore (quiet if a stubs release changes that) keeps the plain base.
class CacheAdmin(admin.ModelAdmin):  # type: ignore[type-arg,unused-ignore]
    """Overview, key browser, key detail, actions and server pages of every alias of ours."""

    # permissions ---------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not admin_settings().read_only and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not admin_settings().read_only and super().has_delete_permission(request, obj)

    def _require(self, request: HttpRequest, permission: str) -> None:
        if permission != "view" and admin_settings().read_only:
            raise PermissionDenied(f"The Cache section is read-only ({SETTING}['READ_ONLY'])")
        allowed = {
            "view": self.has_view_permission,
            "change": self.has_change_permission,
            "delete": self.has_delete_permission,
        }[permission](request)
        if not allowed:
            raise PermissionDenied(f"You need the {permission}_cache permission")

    # URLs ------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        def view(function: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            return self.admin_site.admin_view(function)

        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("", view(self.changelist_view), name=f"{name}_changelist"),
            path("<str:alias>/keys/", view(self.keys_view), name=f"{name}_keys"),
            path("<str:alias>/keys/<str:token>/", view(self.key_view), name=f"{name}_key"),
            path(
                "<str:alias>/keys/<str:token>/<str:action>/",
                view(self.key_action_view),
                name=f"{name}_key_action",
            ),
            path(
                "<str:alias>/delete-pattern/",
                view(self.delete_pattern_view),
                name=f"{name}_delete_pattern",
            ),
            path("<str:alias>/server/", view(self.server_view), name=f"{name}_server"),
        ]

    def _url(self, page: str, *args: str) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{page}", args=args)

    # helpers ---------------------------------------------------------------------------

    def _cache(self, alias: str) -> RedisCache:
        for name, cache in inspect.redis_caches():
            if name == alias:
                return cache
        raise Http404(f"No django_async_redis cache {alias!r} in CACHES")

    def _render(
        self, request: HttpRequest, template: str, title: str, status: int = 200, **context: Any
    ) -> TemplateResponse:
        context.update(
            self.admin_site.each_context(request),
            opts=self.opts,
            title=title,
            read_only=admin_settings().read_only,
            can_change=self.has_change_permission(request),
            can_delete=self.has_delete_permission(request),
        )
        return TemplateResponse(
            request, f"django_async_redis_admin/{template}", context, status=status
        )

    # pages -----------------------------------------------------------------------------

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._require(request, "view")
        return self._render(request, "overview.html", "Caches", aliases=overview.overviews())

    def keys_view(self, request: HttpRequest, alias: str) -> HttpResponse:
        self._require(request, "view")
        cache = self._cache(alias)
        limits = admin_settings()
        pattern = request.GET.get("pattern", "") or "*"
        raw = request.GET.get("raw") == "1"
        type_name = request.GET.get("type", "")
        glob = browse.key_glob(cache, pattern, raw)
        context: dict[str, Any] = {
            "alias": alias,
            "pattern": pattern,
            "raw": raw,
            "type_name": type_name,
            "types": browse.TYPES,
            "glob": glob.decode(errors="backslashreplace"),
            "namespace": f"{cache.key_prefix}:{cache.version}:",
            "scan_count": limits.scan_count,
        }
        try:
            page = browse.scan_page(
                cache,
                glob,
                request.GET.get("cursor", ""),
                limits.scan_count,
                limits.memory_samples,
                type_name,
            )
        except ValueError as error:
            return self._render(
                request, "keys.html", f"Keys of {alias}", status=400, error=str(error), **context
            )
        except FAILURES as error:
            return self._render(
                request, "keys.html", f"Keys of {alias}", status=503, error=str(error), **context
            )
        rows = [(row, key_token(row.key)) for row in page.rows]
        return self._render(
            request, "keys.html", f"Keys of {alias}", page=page, rows=rows, **context
        )

    def key_view(self, request: HttpRequest, alias: str, token: str) -> HttpResponse:
        self._require(request, "view")
        cache = self._cache(alias)
        key = key_from_token(token)
        context: dict[str, Any] = {"alias": alias, "token": token, "key_text": _text(key)}
        try:
            found = detail.key_detail(cache, key, request.GET.get("cursor", ""), admin_settings())
        except ValueError as error:
            return self._render(request, "key.html", "Key", status=400, error=str(error), **context)
        except FAILURES as error:
            return self._render(request, "key.html", "Key", status=503, error=str(error), **context)
        return self._render(
            request, "key.html", "Key", status=200 if found.exists else 404, key=found, **context
        )

    def key_action_view(
        self, request: HttpRequest, alias: str, token: str, action: str
    ) -> HttpResponse:
        if action not in ("expire", "persist", "delete"):
            raise Http404(f"No action {action!r} (expire, persist or delete)")
        self._require(request, "delete" if action == "delete" else "change")
        cache = self._cache(alias)
        key = key_from_token(token)
        data = request.POST if request.method == "POST" else request.GET
        context: dict[str, Any] = {
            "alias": alias,
            "token": token,
            "key_text": _text(key),
            "action": action,
            "seconds": data.get("seconds", ""),
        }
        seconds = 0
        if action == "expire":
            text = str(data.get("seconds", "")).strip()
            if not text.isdigit() or int(text) < 1:
                return self._render(
                    request,
                    "confirm.html",
                    "Set a TTL",
                    status=400,
                    error=f"The TTL must be a whole number of seconds, at least 1, not {text!r}",
                    **context,
                )
            seconds = int(text)
        title = {"expire": "Set a TTL", "persist": "Remove the expiry", "delete": "Delete a key"}
        if request.method != "POST" or request.POST.get("confirm") != "yes":
            return self._render(request, "confirm.html", title[action], **context)
        try:
            if action == "expire":
                done = actions.set_ttl(cache, key, seconds)
                message = f"Set the TTL of {_text(key)} to {seconds} s"
            elif action == "persist":
                done = actions.persist(cache, key)
                message = f"Removed the expiry of {_text(key)}"
            else:
                done = actions.delete_key(cache, key)
                message = f"Deleted {_text(key)}"
        except FAILURES as error:
            return self._render(
                request, "confirm.html", title[action], status=503, error=str(error), **context
            )
        if not done:
            messages.warning(request, f"Nothing changed: {_text(key)} has no such state any more")
            return HttpResponseRedirect(self._url("key", alias, token))
        actions.record(request, alias, _text(key), action == "delete", message)
        messages.success(request, message)
        if action == "delete":
            return HttpResponseRedirect(self._url("keys", alias))
        return HttpResponseRedirect(self._url("key", alias, token))

    def delete_pattern_view(self, request: HttpRequest, alias: str) -> HttpResponse:
        self._require(request, "delete")
        cache = self._cache(alias)
        data = request.POST if request.method == "POST" else request.GET
        pattern = str(data.get("pattern", "")).strip()
        context: dict[str, Any] = {"alias": alias, "pattern": pattern, "action": "pattern"}
        if not pattern:
            return self._render(
                request,
                "confirm.html",
                "Delete by pattern",
                status=400,
                error="Give the pattern of the keys to delete",
                **context,
            )
        # Only ever within the alias's own key space: a raw "*" would be a flush.
        glob = browse.key_glob(cache, pattern, raw=False)
        context["glob"] = glob.decode(errors="backslashreplace")
        try:
            if request.method != "POST" or request.POST.get("confirm") != "yes":
                counts = actions.count_pattern(cache, glob)
                return self._render(
                    request,
                    "confirm.html",
                    "Delete by pattern",
                    counts=counts,
                    total=sum(counts.values()),
                    **context,
                )
            deleted = actions.delete_pattern(cache, glob)
        except FAILURES as error:
            return self._render(
                request,
                "confirm.html",
                "Delete by pattern",
                status=503,
                error=str(error),
                **context,
            )
        message = f"Deleted {deleted} keys matching {context['glob']}"
        actions.record(request, alias, context["glob"], True, message)
        messages.success(request, message)
        return HttpResponseRedirect(self._url("keys", alias))

    def server_view(self, request: HttpRequest, alias: str) -> HttpResponse:
        self._require(request, "view")
        cache = self._cache(alias)
        client = cache.client
        try:
            known = targets(client)
            address = request.GET.get("node") or known[0].address
            target = target_at(client, address)
        except FAILURES as error:
            return self._render(
                request, "server.html", f"Servers of {alias}", status=503, error=str(error),
                alias=alias,
            )  # fmt: skip
        if target is None:
            raise Http404(f"{address!r} is not one of {alias!r}'s servers")
        try:
            page = server.server_page(client, target)
        except FAILURES as error:
            return self._render(
                request, "server.html", f"Servers of {alias}", status=503, error=str(error),
                alias=alias, targets=known, target=target,
            )  # fmt: skip
        return self._render(
            request,
            "server.html",
            f"Servers of {alias}",
            alias=alias,
            targets=known,
            target=target,
            page=page,
        )


def _text(key: bytes) -> str:
    return key.decode(errors="backslashreplace")


admin.site.register(Cache, CacheAdmin)
