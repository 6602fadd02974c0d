"""Filters of the Cache section's templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def ttl(milliseconds: int | None) -> str:
    """PTTL's answer as a person reads it: "no expiry", "gone", "2 h 5 min"..."""
    if milliseconds is None or milliseconds == -2:
        return "gone"
    if milliseconds == -1:
        return "no expiry"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s"


@register.filter
def percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.1%}"
