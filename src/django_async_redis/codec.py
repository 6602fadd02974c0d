"""The codec: cache values to stored bytes and back.

A value is serialized, then compressed. Plain ints are the exception: they are
handed to the transport as they are, which writes them as decimal digits, so
that INCR and DECR work on them in Redis and ``incr()`` needs no read first.
Reading reverses this, and accepts raw (uncompressed) bytes too, so turning a
compressor on, off or to another format needs no flush. With OPTIONS["SIGNING"]
the compressed bytes are signed last and checked first (``signing.py``).

What is stored must fit the server's largest bulk string (proto-max-bulk-len,
512 MiB unless the server was configured otherwise; OPTIONS["MAX_VALUE_SIZE"]
when it was): a larger one raises :class:`ValueTooLarge` before it is sent.

Bytes that cannot be read back raise :class:`DecodeError`, naming the stage
that failed, with that stage's own exception as ``__cause__``; the layers
above add the Redis key and apply OPTIONS["ON_DECODE_ERROR"].
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from django_async_redis.compressors.base import BaseCompressor
from django_async_redis.compressors.identity import IdentityCompressor
from django_async_redis.exceptions import CompressorError, DecodeError, ValueTooLarge
from django_async_redis.serializers.base import BaseSerializer
from django_async_redis.serializers.pickle import PickleSerializer
from django_async_redis.signing import Signer, build_signer

# OPTIONS["ON_DECODE_ERROR"]: what a read of bytes that cannot be decoded gives.
DECODE_POLICIES = ("raise", "miss")

DEFAULT_SERIALIZER = "django_async_redis.serializers.pickle.PickleSerializer"
DEFAULT_COMPRESSOR = "django_async_redis.compressors.identity.IdentityCompressor"
# Redis's and Valkey's default proto-max-bulk-len: the largest bulk string a
# request may carry.
DEFAULT_MAX_VALUE_SIZE = 512 * 1024 * 1024

# django-redis's built-in classes, mapped to ours (same names, same formats) so
# that its settings work unchanged whether or not django-redis is installed.
DJANGO_REDIS_CLASSES = {
    f"django_redis.{module}.{name}": f"django_async_redis.{module}.{name}"
    for module, name in [
        ("serializers.pickle", "PickleSerializer"),
        ("serializers.json", "JSONSerializer"),
        ("serializers.msgpack", "MSGPackSerializer"),
        ("compressors.identity", "IdentityCompressor"),
        ("compressors.zlib", "ZlibCompressor"),
        ("compressors.gzip", "GzipCompressor"),
        ("compressors.lzma", "LzmaCompressor"),
        ("compressors.lz4", "Lz4Compressor"),
        ("compressors.zstd", "ZStdCompressor"),
    ]
}


class Codec:
    """Encodes values for storage and decodes stored bytes, for one cache."""

    __slots__ = (
        "_compress",
        "_decompress",
        "_dumps",
        "_loads",
        "_not_compressed",
        "_sign",
        "_unsign",
        "compressor",
        "max_value_size",
        "serializer",
        "signer",
    )

    def __init__(
        self,
        serializer: BaseSerializer,
        compressor: BaseCompressor,
        signer: Signer | None = None,
        max_value_size: int = DEFAULT_MAX_VALUE_SIZE,
    ) -> None:
        self.max_value_size = max_value_size
        self.serializer = serializer
        self.compressor = compressor
        self.signer = signer
        # Bound once here: encode and decode run on every cache call.
        self._dumps: Callable[[Any], bytes] = serializer.dumps
        self._loads: Callable[[bytes], Any] = serializer.loads
        if type(serializer) is PickleSerializer:
            # The stock serializer's methods only forward to pickle: call it
            # directly, a Python frame less on every read and every write.
            self._dumps = functools.partial(pickle.dumps, protocol=serializer.protocol)
            self._loads = pickle.loads
        self._compress: Callable[[bytes], bytes] | None = None
        self._decompress: Callable[[bytes], bytes] | None = None
        if not _is_identity(compressor):
            self._compress = compressor.compress
            self._decompress = compressor.decompress
        self._not_compressed = _not_compressed_errors(compressor)
        self._sign: Callable[[bytes], bytes] | None = signer.sign if signer else None
        self._unsign: Callable[[bytes], bytes] | None = signer.unsign if signer else None

    def encode(self, value: Any) -> bytes | int:
        """The stored form of ``value``: the int itself for a plain int, else bytes."""
        # Exactly int: bools and int subclasses such as IntEnum must keep their
        # type, which only the serializer preserves.
        if type(value) is int:
            return value
        return self.encode_always(value)

    def encode_always(self, value: Any) -> bytes:
        """``value`` serialized, compressed and signed, ints included (sorted-set members)."""
        data = self._dumps(value)
        if self._compress is not None:
            data = self._compress(data)
        if self._sign is not None:
            data = self._sign(data)
        if len(data) > self.max_value_size:
            self.refuse(len(data))
        return data

    def check_size(self, data: bytes, what: str = "the value") -> bytes:
        """``data``, if the server takes a bulk string that long; else ValueTooLarge."""
        if len(data) > self.max_value_size:
            self.refuse(len(data), what)
        return data

    def refuse(self, size: int, what: str = "the value") -> NoReturn:
        raise ValueTooLarge(
            f"{what} is {size:,} bytes as stored, more than the server takes in one "
            f"request argument ({self.max_value_size:,} bytes: its proto-max-bulk-len, "
            "OPTIONS['MAX_VALUE_SIZE']); nothing was sent"
        )

    def decode(self, data: bytes) -> Any:
        """The value stored as ``data``."""
        # Only the exact form the transport writes (and INCR leaves) is an int;
        # int() alone would also take b" 1", b"1_0" and b"+1". Nothing else we
        # store is bare digits: pickles end in b".", JSON quotes strings,
        # msgpack prefixes them, compressed streams open with a non-digit byte.
        # isdigit() stops at the first non-digit, so a miss costs little.
        if data.isdigit() or (data[:1] == b"-" and data[1:].isdigit()):
            return int(data)
        if self._unsign is not None:
            # Before anything else reads the bytes: only our own get further.
            data = self._unsign(data)
        stored = data
        if self._decompress is not None:
            # Stored raw when short, incompressible, or written before this
            # compressor was chosen. (try/except, not contextlib.suppress: this
            # runs on every read, and a zero-cost try is cheaper than a context
            # manager.)
            try:
                data = self._decompress(data)
            except self._not_compressed:
                pass
            except Exception as exc:
                name = type(self.compressor).__name__
                raise DecodeError(f"{name}.decompress failed: {_brief(exc)}") from exc
        try:
            return self._loads(data)
        except Exception as exc:
            # Whatever a deserializer raises on foreign bytes (unpickling,
            # import, JSON, UTF-8 errors...) means the same: not our value.
            raise DecodeError(self._loads_failed(stored, data, exc)) from exc

    def _loads_failed(self, stored: bytes, data: bytes, exc: Exception) -> str:
        reason = f"{type(self.serializer).__name__}.loads failed: {_brief(exc)}"
        if self._decompress is not None and data is stored:
            # Read as raw because the compressor refused it: a truncated or
            # foreign compressed stream ends here, so say what it objected to.
            # (Asked again only now: keeping that first exception would cost
            # every raw read a reference cycle through its traceback.)
            try:
                self._decompress(stored)
            except Exception as refusal:
                name = type(self.compressor).__name__
                reason += f" (read as uncompressed: {name} said {str(refusal)[:200]!r})"
        return reason


def build_codec(options: Mapping[str, Any]) -> Codec:
    """The codec a cache's OPTIONS ask for (SERIALIZER, COMPRESSOR and SIGNING)."""
    options = dict(options)
    serializer_class = _load_class(
        options, "SERIALIZER", DEFAULT_SERIALIZER, "a serializer", ("dumps", "loads")
    )
    compressor_class = _load_class(
        options, "COMPRESSOR", DEFAULT_COMPRESSOR, "a compressor", ("compress", "decompress")
    )
    signer = build_signer(options.get("SIGNING"))
    limit = options.get("MAX_VALUE_SIZE", DEFAULT_MAX_VALUE_SIZE)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ImproperlyConfigured(
            f"MAX_VALUE_SIZE must be a positive number of bytes (the server's "
            f"proto-max-bulk-len), not {limit!r}"
        )
    return Codec(serializer_class(options), compressor_class(options), signer, limit)


def decode_policy(options: Mapping[str, Any]) -> str:
    """ON_DECODE_ERROR: "raise" (DecodeError naming the key) or "miss" (logged, read as absent)."""
    policy = options.get("ON_DECODE_ERROR", "raise")
    if policy not in DECODE_POLICIES:
        raise ImproperlyConfigured(f"ON_DECODE_ERROR must be 'raise' or 'miss', not {policy!r}")
    return str(policy)


def _load_class(
    options: dict[str, Any],
    name: str,
    default: str,
    kind: str,
    methods: tuple[str, ...],
) -> Any:
    path = options.get(name, default)
    if isinstance(path, str):
        try:
            cls = import_string(DJANGO_REDIS_CLASSES.get(path, path))
        except ImportError as exc:
            raise ImproperlyConfigured(f"{name} {path!r} could not be imported: {exc}") from exc
    elif isinstance(path, type):
        cls = path
    else:
        raise ImproperlyConfigured(f"{name} must be a dotted path to a class, not {path!r}")
    # Checked by shape rather than by base class, so that classes written
    # against django-redis's base classes are accepted as they are.
    if not isinstance(cls, type) or not all(callable(getattr(cls, m, None)) for m in methods):
        wanted = " and ".join(f"{m}()" for m in methods)
        raise ImproperlyConfigured(f"{name} {path!r} is not {kind}: expected a class with {wanted}")
    return cls


def _brief(exc: BaseException) -> str:
    text = str(exc)
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_identity(compressor: BaseCompressor) -> bool:
    cls = type(compressor)
    return (
        cls.compress is IdentityCompressor.compress
        and cls.decompress is IdentityCompressor.decompress
    )


def _not_compressed_errors(compressor: BaseCompressor) -> tuple[type[Exception], ...]:
    # A compressor written for django-redis signals raw input with django-redis's
    # own CompressorError; catch that too, or its raw values would not read back.
    if isinstance(compressor, BaseCompressor):
        return (CompressorError,)
    try:
        from django_redis.exceptions import CompressorError as DjangoRedisCompressorError
    except ImportError:
        return (CompressorError,)
    return (CompressorError, DjangoRedisCompressorError)
