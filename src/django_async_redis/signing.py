"""Signed values: OPTIONS["SIGNING"], an HMAC-SHA256 tag on every stored value.

Whoever can write to a Redis that holds pickles can run code in every process
that reads it. With signing on, the codec puts a tag in front of every value it
stores and checks it before any decompressor or deserializer sees the bytes:
a value somebody else wrote (or changed) is refused with
:class:`~django_async_redis.exceptions.SignatureError`.

The stored form is ``MARKER + tag + payload``: a two-byte marker (so that an
unsigned value is told apart from a forged one in the error), the 32-byte
HMAC-SHA256 of the payload, then the compressed, serialized value.

Keys are derived, never used as they are: HMAC-SHA256 of a fixed purpose
string (plus SALT) under the secret, so the cache's key differs from the
SECRET_KEY's other uses (sessions, password reset tokens) and a tag made here
is no use anywhere else. The current key signs; it and every fallback key
verify, which is how a key is rotated without a flush (SECRET_KEY_FALLBACKS).

Plain ints are stored as digits, unsigned, so that INCR keeps working on them
(see docs/security.md): digits are only ever read back with ``int()``, which
runs no code, so a forged counter can be a wrong number but never a payload.
The tag covers the value, not the key it is stored under.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from django_async_redis.exceptions import SignatureError

MARKER = b"\xa7s"
TAG_LENGTH = hashlib.sha256().digest_size
_HEADER = len(MARKER) + TAG_LENGTH
_PURPOSE = b"django_async_redis.signing.cache-values"

SIGNING_KEYS = frozenset({"KEY", "FALLBACK_KEYS", "SALT"})


class Signer:
    """Signs payloads with the current key; accepts a tag from any of the keys."""

    __slots__ = ("_keys", "_signing_key")

    def __init__(
        self, key: str | bytes, fallback_keys: Sequence[str | bytes] = (), salt: str = ""
    ) -> None:
        self._signing_key = derive_key(key, salt)
        self._keys = (self._signing_key, *(derive_key(k, salt) for k in fallback_keys))

    def sign(self, payload: bytes) -> bytes:
        return MARKER + hmac.digest(self._signing_key, payload, "sha256") + payload

    def unsign(self, data: bytes) -> bytes:
        """The payload of a signed value; SignatureError when it is not one of ours."""
        if data[:2] != MARKER or len(data) < _HEADER:
            raise SignatureError("the value is not signed (written without OPTIONS['SIGNING'])")
        tag, payload = data[2:_HEADER], data[_HEADER:]
        for key in self._keys:
            if hmac.compare_digest(tag, hmac.digest(key, payload, "sha256")):
                return payload
        raise SignatureError(
            "the signature does not match: the value was changed, or signed with a key "
            "that is neither the signing key nor one of its fallbacks"
        )


def derive_key(secret: str | bytes, salt: str = "") -> bytes:
    secret_bytes = secret.encode() if isinstance(secret, str) else bytes(secret)
    return hmac.digest(secret_bytes, _PURPOSE + b"|" + salt.encode(), "sha256")


def build_signer(value: Any) -> Signer | None:
    """The signer OPTIONS["SIGNING"] asks for: False/None (off), True, or a dict.

    True signs with SECRET_KEY and accepts SECRET_KEY_FALLBACKS. A dict may name
    a dedicated ``KEY`` (then ``FALLBACK_KEYS`` default to none), ``FALLBACK_KEYS``
    and a ``SALT`` (to keep two caches' values apart under one secret).
    """
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            "OPTIONS['SIGNING'] must be True, False or a dict with KEY, FALLBACK_KEYS "
            f"and SALT, not {type(value).__name__}"
        )
    for name in value:
        if name not in SIGNING_KEYS:
            raise ImproperlyConfigured(
                f"Unknown OPTIONS['SIGNING'] key {name!r}: expected KEY, FALLBACK_KEYS or SALT"
            )
    if "KEY" in value:
        key = value["KEY"]
        fallbacks = value.get("FALLBACK_KEYS", ())
    else:
        key = getattr(settings, "SECRET_KEY", None)
        fallbacks = value.get("FALLBACK_KEYS", getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    # The key is never echoed: an error message is no place for a secret.
    if not isinstance(key, (str, bytes)) or not key:
        raise ImproperlyConfigured(
            "OPTIONS['SIGNING'] needs a key: a non-empty SECRET_KEY, or SIGNING['KEY']"
        )
    if isinstance(fallbacks, (str, bytes)) or not isinstance(fallbacks, Sequence):
        raise ImproperlyConfigured("OPTIONS['SIGNING']['FALLBACK_KEYS'] must be a list of keys")
    if not all(isinstance(k, (str, bytes)) and k for k in fallbacks):
        raise ImproperlyConfigured(
            "OPTIONS['SIGNING']['FALLBACK_KEYS'] must hold non-empty strings or bytes"
        )
    salt = value.get("SALT", "")
    if not isinstance(salt, str):
        raise ImproperlyConfigured(f"OPTIONS['SIGNING']['SALT'] must be a string, not {salt!r}")
    return Signer(key, fallbacks, salt)
