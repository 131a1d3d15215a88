"""Reading a request body within limits: plain or gzip, counted while it arrives and while it inflates.

A compressed body is never inflated past the limit, so a gzip bomb costs the server
at most `limit` bytes of memory. JSON is parsed strictly: no NaN or Infinity (they are
not JSON, and PostgreSQL's jsonb refuses them), no numbers too large for a float.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import AsyncIterator

from leadrelay.entrypoints.api.errors import BadEncoding, BadJson, TooLarge

_GZIP = 16 + zlib.MAX_WBITS
_IDENTITY = frozenset({"", "identity"})
_GZIP_NAMES = frozenset({"gzip", "x-gzip"})


def kilobytes(n: int) -> str:
    return f"{n // 1024} KB"


class GzipReader:
    """Inflates gzip data fed in pieces (several members allowed), refusing to grow past `limit` bytes."""

    def __init__(self, limit: int):
        self.limit = limit
        self.out = bytearray()
        self._inflater = zlib.decompressobj(_GZIP)

    def feed(self, data: bytes) -> None:
        while data:
            room = self.limit - len(self.out) + 1  # one byte more than allowed tells "too large" from "exactly full"
            try:
                piece = self._inflater.decompress(data, room)
            except zlib.error as exc:
                raise BadEncoding(f"the body is not valid gzip: {exc}") from None
            self.out += piece
            if len(self.out) > self.limit:
                raise TooLarge(f"the body is larger than {kilobytes(self.limit)} once decompressed")
            if self._inflater.eof:
                data = self._inflater.unused_data
                if data:  # another gzip member follows
                    self._inflater = zlib.decompressobj(_GZIP)
            else:
                data = self._inflater.unconsumed_tail

    def finish(self) -> bytes:
        if not self._inflater.eof:
            raise BadEncoding("the gzip body is truncated")
        return bytes(self.out)


async def read_limited(chunks: AsyncIterator[bytes], content_encoding: str | None, limit: int) -> bytes:
    """The whole body, decompressed, at most `limit` bytes. Raises TooLarge, BadEncoding."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in _IDENTITY:
        body = bytearray()
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"the body is larger than {kilobytes(limit)}")
        return bytes(body)
    if encoding not in _GZIP_NAMES:
        raise BadEncoding(f"Content-Encoding '{encoding[:40]}' is not supported (send gzip or nothing)")
    reader = GzipReader(limit)
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit + 1024:  # compressed data is never much larger than what it holds
            raise TooLarge(f"the body is larger than {kilobytes(limit)}")
        reader.feed(chunk)
    return reader.finish()


def parse_json(body: bytes) -> object:
    """Strict JSON from UTF-8 bytes. Raises BadJson with where it went wrong."""
    if not body.strip():
        raise BadJson("the body is empty; send a JSON object")
    try:
        return json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise BadJson(f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise BadJson("the body is not UTF-8 text") from None
    except RecursionError:
        raise BadJson("the body is nested too deeply") from None
    except ValueError as exc:  # a bad constant or number, or an integer with too many digits
        raise BadJson(f"the body is not JSON: {exc}") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value
