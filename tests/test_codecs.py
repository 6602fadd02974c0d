"""Serializers, compressors and the codec that combines them. No server needed."""

from __future__ import annotations

import datetime
import decimal
import os
import pickle
import sys
import threading
import uuid
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_async_redis.codec import DJANGO_REDIS_CLASSES, Codec, build_codec
from django_async_redis.compressors.base import BaseCompressor
from django_async_redis.compressors.brotli import BrotliCompressor
from django_async_redis.compressors.gzip import GzipCompressor
from django_async_redis.compressors.identity import IdentityCompressor
from django_async_redis.compressors.lz4 import Lz4Compressor
from django_async_redis.compressors.lzma import LzmaCompressor
from django_async_redis.compressors.zlib import ZlibCompressor
from django_async_redis.compressors.zstd import ZStdCompressor
from django_async_redis.exceptions import CompressorError
from django_async_redis.serializers.base import BaseSerializer
from django_async_redis.serializers.json import JSONSerializer
from django_async_redis.serializers.msgpack import MSGPackSerializer
from django_async_redis.serializers.pickle import PickleSerializer

SERIALIZERS: list[type[BaseSerializer]] = [PickleSerializer, JSONSerializer, MSGPackSerializer]
COMPRESSORS: list[type[BaseCompressor]] = [
    IdentityCompressor,
    ZlibCompressor,
    GzipCompressor,
    LzmaCompressor,
    Lz4Compressor,
    ZStdCompressor,
    BrotliCompressor,
]
REAL_COMPRESSORS = [c for c in COMPRESSORS if c is not IdentityCompressor]

# What each format's output starts with (brotli has no magic number).
MAGIC: dict[type[BaseCompressor], bytes] = {
    ZlibCompressor: b"\x78",
    GzipCompressor: b"\x1f\x8b",
    LzmaCompressor: b"\xfd7zXZ\x00",
    Lz4Compressor: b"\x04\x22\x4d\x18",
    ZStdCompressor: b"\x28\xb5\x2f\xfd",
}

# A module-level lambda: pickle refuses it with PicklingError on every version.
UNPICKLABLE = lambda: None  # noqa: E731

LARGE = {
    "rows": [
        {"id": i, "name": f"row {i % 7}", "text": "lorem ipsum dolor sit amet " * 4}
        for i in range(300)
    ]
}

# Values every serializer stores faithfully.
COMMON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    42,
    -7,
    2**100,
    -(2**100),
    3.25,
    -0.5,
    "",
    "hello",
    "héllo wörld ✓ 日本語 🎉",
    "12345",
    "-12",
    [1, "two", [3.0, None], {"four": 4}],
    {"a": {"b": {"c": [True, False, None]}}, "n": -1},
    LARGE,
]
BYTES_VALUES: list[Any] = [b"", b"raw \x00\xff bytes", b"12345", {"blob": b"\x01\x02"}]
PICKLE_ONLY: list[Any] = [
    (1, 2, 3),
    {1, 2},
    frozenset({"x"}),
    datetime.datetime(2024, 5, 17, 12, 30, tzinfo=datetime.UTC),
    decimal.Decimal("1.10"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    {(1, 2): "tuple key"},
    {"huge": 2**200},
]


def values_for(serializer: type[BaseSerializer]) -> list[Any]:
    values = list(COMMON_VALUES)
    if serializer is PickleSerializer:
        values += BYTES_VALUES + PICKLE_ONLY
    elif serializer is MSGPackSerializer:
        values += [*BYTES_VALUES, {1: "int key"}]
    else:
        values += [{"nested_huge": 2**200}]
    return values


def codec(serializer: type[BaseSerializer], compressor: type[BaseCompressor]) -> Codec:
    return Codec(serializer({}), compressor({}))


def stored_bytes(c: Codec, value: Any) -> bytes:
    """What Redis would hold: the transport writes a passed-through int as its digits."""
    stored = c.encode(value)
    return stored if isinstance(stored, bytes) else str(stored).encode()


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("serializer", SERIALIZERS, ids=lambda s: s.__name__)
def test_round_trip(serializer: type[BaseSerializer], compressor: type[BaseCompressor]) -> None:
    c = codec(serializer, compressor)
    for value in values_for(serializer):
        decoded = c.decode(stored_bytes(c, value))
        assert decoded == value
        assert type(decoded) is type(value)


@pytest.mark.parametrize("compressor", REAL_COMPRESSORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("serializer", SERIALIZERS, ids=lambda s: s.__name__)
def test_large_values_are_compressed(
    serializer: type[BaseSerializer], compressor: type[BaseCompressor]
) -> None:
    c = codec(serializer, compressor)
    raw = serializer({}).dumps(LARGE)
    stored = c.encode(LARGE)
    assert isinstance(stored, bytes)
    assert len(stored) < len(raw) // 3
    assert stored.startswith(MAGIC.get(compressor, b""))
    assert c.decode(stored) == LARGE


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=lambda s: s.__name__)
def test_plain_ints_are_passed_through(serializer: type[BaseSerializer]) -> None:
    c = codec(serializer, ZlibCompressor)
    for value in [0, 1, -1, 2**63, -(2**63), 10**100]:
        stored = c.encode(value)
        assert type(stored) is int
        assert stored == value
        assert c.decode(str(value).encode()) == value


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=lambda s: s.__name__)
def test_bools_and_digit_strings_keep_their_type(serializer: type[BaseSerializer]) -> None:
    c = codec(serializer, IdentityCompressor)
    for value in [True, False, "12345", "-1", "0"]:
        stored = c.encode(value)
        assert isinstance(stored, bytes)
        assert c.decode(stored) == value
        assert type(c.decode(stored)) is type(value)


class RawBytesSerializer(BaseSerializer):
    """Stores bytes as they are, so decode's int detection can be probed directly."""

    def dumps(self, value: Any) -> bytes:
        assert isinstance(value, bytes)
        return value

    def loads(self, value: bytes) -> Any:
        return value


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"0", 0),
        (b"123", 123),
        (b"-45", -45),
        (b"00042", 42),
        (b"9" * 40, int("9" * 40)),
        (b" 12", b" 12"),
        (b"12 ", b"12 "),
        (b"1_000", b"1_000"),
        (b"+5", b"+5"),
        (b"-", b"-"),
        (b"--5", b"--5"),
        (b"", b""),
    ],
)
def test_decode_recognises_only_plain_decimal_ints(data: bytes, expected: Any) -> None:
    result = Codec(RawBytesSerializer({}), IdentityCompressor({})).decode(data)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("compressor", REAL_COMPRESSORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("serializer", SERIALIZERS, ids=lambda s: s.__name__)
def test_values_written_uncompressed_read_back_after_switching(
    serializer: type[BaseSerializer], compressor: type[BaseCompressor]
) -> None:
    before = codec(serializer, IdentityCompressor)
    after = codec(serializer, compressor)
    for value in values_for(serializer):
        assert after.decode(stored_bytes(before, value)) == value


@pytest.mark.parametrize("compressor", REAL_COMPRESSORS, ids=lambda c: c.__name__)
def test_short_values_stay_uncompressed(compressor: type[BaseCompressor]) -> None:
    instance = compressor({})
    short = b"a" * (instance.min_length - 1)
    assert instance.compress(short) == short
    assert instance.compress(b"") == b""
    c = Codec(PickleSerializer({}), instance)
    assert c.encode("hi") == pickle.dumps("hi", pickle.DEFAULT_PROTOCOL)


@pytest.mark.parametrize("compressor", REAL_COMPRESSORS, ids=lambda c: c.__name__)
def test_min_length_option(compressor: type[BaseCompressor]) -> None:
    data = b"abc" * 80
    assert compressor({}).compress(data) == data
    eager = compressor({"COMPRESS_MIN_LENGTH": 0})
    assert eager.min_length == 0
    compressed = eager.compress(data)
    assert len(compressed) < len(data)
    assert eager.decompress(compressed) == data


@pytest.mark.parametrize("compressor", REAL_COMPRESSORS, ids=lambda c: c.__name__)
def test_incompressible_values_are_stored_raw(compressor: type[BaseCompressor]) -> None:
    instance = compressor({})
    noise = os.urandom(4096)
    assert instance.compress(noise) == noise
    value = {"token": noise}
    c = Codec(PickleSerializer({}), instance)
    assert c.decode(stored_bytes(c, value)) == value


@pytest.mark.parametrize("compressor", REAL_COMPRESSORS, ids=lambda c: c.__name__)
def test_compress_level_option(compressor: type[BaseCompressor]) -> None:
    # The extreme levels may not shrink the data at all (gzip 0 only stores
    # it); the codec still round-trips what they leave.
    value = "the quick brown fox jumps over the lazy dog " * 50
    assert compressor.level is not None
    for level in {compressor.min_level, compressor.level, compressor.max_level}:
        instance = compressor({"COMPRESS_LEVEL": level})
        assert instance.level == level
        c = Codec(PickleSerializer({}), instance)
        assert c.decode(stored_bytes(c, value)) == value


@pytest.mark.parametrize("compressor", REAL_COMPRESSORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    ("option", "bad"),
    [
        ("COMPRESS_LEVEL", 99),
        ("COMPRESS_LEVEL", -(10**6)),
        ("COMPRESS_LEVEL", "5"),
        ("COMPRESS_LEVEL", True),
        ("COMPRESS_LEVEL", 1.5),
        ("COMPRESS_MIN_LENGTH", -1),
        ("COMPRESS_MIN_LENGTH", "100"),
        ("COMPRESS_MIN_LENGTH", None),
    ],
)
def test_bad_compress_options(compressor: type[BaseCompressor], option: str, bad: Any) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        compressor({option: bad})
    assert option in str(info.value)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("compressor", REAL_COMPRESSORS, ids=lambda c: c.__name__)
def test_decompress_rejects_foreign_bytes(compressor: type[BaseCompressor]) -> None:
    instance = compressor({"COMPRESS_MIN_LENGTH": 0})
    compressed = instance.compress(pickle.dumps(LARGE))
    for foreign in [
        b"",
        b"x",
        pickle.dumps(LARGE),
        b'{"json":"value"}',
        os.urandom(300),
        compressed[: len(compressed) // 2],
    ]:
        with pytest.raises(CompressorError):
            instance.decompress(foreign)


@pytest.mark.parametrize("own", REAL_COMPRESSORS, ids=lambda c: c.__name__)
def test_each_compressor_rejects_the_others_output(own: type[BaseCompressor]) -> None:
    data = pickle.dumps(LARGE)
    for other in REAL_COMPRESSORS:
        if other is not own:
            with pytest.raises(CompressorError):
                own({}).decompress(other({}).compress(data))


def test_zstd_compressor_is_usable_from_several_threads() -> None:
    compressor = ZStdCompressor({})
    data = pickle.dumps(LARGE)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                assert compressor.decompress(compressor.compress(data)) == data
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_json_is_compact_utf8_and_knows_django_types() -> None:
    s = JSONSerializer({})
    assert s.dumps({"a": [1, 2], "é": "✓"}) == '{"a":[1,2],"é":"✓"}'.encode()
    stored = s.dumps(
        {
            "when": datetime.date(2024, 5, 17),
            "price": decimal.Decimal("1.10"),
            "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        }
    )
    assert s.loads(stored) == {
        "when": "2024-05-17",
        "price": "1.10",
        "id": "12345678-1234-5678-1234-567812345678",
    }


def test_msgpack_round_trips_bytes_and_int_keys() -> None:
    s = MSGPackSerializer({})
    value = {1: b"\x00\xff", "k": [1, 2]}
    assert s.loads(s.dumps(value)) == value


@pytest.mark.parametrize("version", [-1, 0, 1, 2, pickle.HIGHEST_PROTOCOL, "2", "-1"])
def test_pickle_version(version: Any) -> None:
    s = PickleSerializer({"PICKLE_VERSION": version})
    assert s.protocol == int(version)
    assert s.loads(s.dumps({"a": (1, 2)})) == {"a": (1, 2)}


def test_pickle_version_defaults_to_djangos_and_django_redis() -> None:
    s = PickleSerializer({})
    assert s.dumps("x") == pickle.dumps("x", pickle.DEFAULT_PROTOCOL)


@pytest.mark.parametrize(
    "bad", [-2, pickle.HIGHEST_PROTOCOL + 1, 99, "abc", "", None, True, 2.0, [2]]
)
def test_bad_pickle_version(bad: Any) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        PickleSerializer({"PICKLE_VERSION": bad})
    assert "PICKLE_VERSION" in str(info.value)
    assert repr(bad) in str(info.value)


def test_unpicklable_values_raise_picklings_own_errors() -> None:
    c = build_codec({})
    with pytest.raises(pickle.PicklingError):
        c.encode(UNPICKLABLE)
    with pytest.raises(TypeError):
        c.encode(threading.Lock())


def test_build_codec_defaults() -> None:
    c = build_codec({})
    assert type(c.serializer) is PickleSerializer
    assert type(c.compressor) is IdentityCompressor
    assert c.encode({"a": 1}) == pickle.dumps({"a": 1}, pickle.DEFAULT_PROTOCOL)


def test_build_codec_reads_options() -> None:
    c = build_codec(
        {
            "SERIALIZER": "django_async_redis.serializers.json.JSONSerializer",
            "COMPRESSOR": "django_async_redis.compressors.zstd.ZStdCompressor",
            "COMPRESS_MIN_LENGTH": 0,
            "COMPRESS_LEVEL": 9,
        }
    )
    assert type(c.serializer) is JSONSerializer
    assert isinstance(c.compressor, ZStdCompressor)
    assert c.compressor.level == 9
    stored = c.encode(LARGE)
    assert isinstance(stored, bytes)
    assert stored.startswith(MAGIC[ZStdCompressor])
    assert c.decode(stored) == LARGE


def test_build_codec_accepts_classes() -> None:
    c = build_codec({"SERIALIZER": MSGPackSerializer, "COMPRESSOR": Lz4Compressor})
    assert type(c.serializer) is MSGPackSerializer
    assert type(c.compressor) is Lz4Compressor


@pytest.mark.parametrize(("django_redis_path", "ours"), sorted(DJANGO_REDIS_CLASSES.items()))
def test_django_redis_paths_map_to_ours(django_redis_path: str, ours: str) -> None:
    option = "SERIALIZER" if ".serializers." in django_redis_path else "COMPRESSOR"
    c = build_codec({option: django_redis_path})
    built = c.serializer if option == "SERIALIZER" else c.compressor
    assert f"{type(built).__module__}.{type(built).__name__}" == ours


def test_django_redis_is_not_needed_for_its_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import` fail as if the package were
    # not installed; pytest restores sys.modules afterwards.
    monkeypatch.setitem(sys.modules, "django_redis", None)
    c = build_codec(
        {
            "SERIALIZER": "django_redis.serializers.msgpack.MSGPackSerializer",
            "COMPRESSOR": "django_redis.compressors.lzma.LzmaCompressor",
        }
    )
    assert type(c.serializer) is MSGPackSerializer
    assert type(c.compressor) is LzmaCompressor


@pytest.mark.parametrize(
    ("option", "path"),
    [
        ("SERIALIZER", "no_such_module.Serializer"),
        ("SERIALIZER", "django_async_redis.serializers.pickle.NoSuchClass"),
        ("SERIALIZER", "notadottedpath"),
        ("SERIALIZER", "django_async_redis.compressors.zlib.ZlibCompressor"),
        ("SERIALIZER", "django_async_redis.codec.DEFAULT_SERIALIZER"),
        ("COMPRESSOR", "no_such_module.Compressor"),
        ("COMPRESSOR", "django_async_redis.serializers.json.JSONSerializer"),
        ("COMPRESSOR", "django_async_redis.codec.build_codec"),
        ("COMPRESSOR", "django_redis.compressors.nope.NopeCompressor"),
        ("COMPRESSOR", 42),
        ("SERIALIZER", None),
    ],
)
def test_bad_dotted_paths(option: str, path: Any) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        build_codec({option: path})
    assert option in str(info.value)
    assert repr(path) in str(info.value)


@pytest.mark.parametrize(
    ("cls", "module", "extra"),
    [
        (MSGPackSerializer, "msgpack", "msgpack"),
        (Lz4Compressor, "lz4", "lz4"),
        (ZStdCompressor, "zstandard", "zstd"),
        (BrotliCompressor, "brotli", "brotli"),
    ],
)
def test_missing_extras_are_named(
    monkeypatch: pytest.MonkeyPatch, cls: type, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    if module == "lz4":
        monkeypatch.setitem(sys.modules, "lz4.frame", None)
    with pytest.raises(ImproperlyConfigured) as info:
        cls({})
    assert f"pip install django-async-redis[{extra}]" in str(info.value)


class ShapedCompressor:
    """A compressor written against django-redis's interface, not our base class."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def compress(self, value: bytes) -> bytes:
        return b"SHAPED" + value[::-1]

    def decompress(self, value: bytes) -> bytes:
        if not value.startswith(b"SHAPED"):
            raise CompressorError("not ours")
        return value[:5:-1]


def test_classes_are_accepted_by_shape() -> None:
    c = build_codec({"COMPRESSOR": f"{__name__}.ShapedCompressor"})
    assert isinstance(c.compressor, ShapedCompressor)
    stored = c.encode("value")
    assert isinstance(stored, bytes)
    assert stored.startswith(b"SHAPED")
    assert c.decode(stored) == "value"
    assert c.decode(pickle.dumps("old")) == "old"
