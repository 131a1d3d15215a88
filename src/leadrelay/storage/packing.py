"""Activity payloads, packed: JSON compressed by zstandard against a dictionary trained on the store's own payloads.

An activity's payload (properties, traits, context) is some 600 bytes of JSON that repeats
from one activity to the next: the same keys, user agents, pages, referrers and campaigns.
Compressed alone it halves; compressed against a dictionary of the store's own payloads it
is about a tenth (60 bytes on the demo stream), and packing or unpacking one takes a couple
of microseconds. Nothing reads a payload in SQL, only in Python, so nothing is lost.

The format: a payload is one zstd frame (an empty payload is no bytes at all). A frame
names the dictionary it was packed with (0 for none). Dictionaries are rows of
`payload_dictionaries`; they never change and are never deleted, so every frame stays
readable, whichever process wrote it and whenever.

When dictionaries are made: a store packs without one until it holds `TRAIN_AFTER`
activities; the next writer (`ready`, before its transaction) trains one from the newest
payloads, and once more when the store reaches `TRAIN_SAMPLE` activities, so that the
dictionary in use has seen a good sample. Every writer packs with the newest dictionary it
knows; a reader that meets a frame of a dictionary it has not seen loads it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

import orjson
import zstandard
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from leadrelay.storage import tables as t

log = logging.getLogger("leadrelay.storage.packing")

LEVEL = 3  # zstd's default: with a dictionary, higher levels save a byte or two at three times the cost
DICTIONARY_BYTES = 32 * 1024
TRAIN_AFTER = 1_000  # activities stored before the first dictionary is trained
TRAIN_SAMPLE = 5_000  # payloads a dictionary is trained on, at most; a store this size gets its last dictionary
RECHECK = 1_000  # payloads packed between two looks at whether a (better) dictionary is due
FIRST_ID = 32_768  # zstd reserves smaller dictionary ids for registered public dictionaries


def as_json(payload: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # integers past 64 bits; lone surrogates (refused at intake)
        return json.dumps(payload).encode()


class Payloads:
    """The packer and unpackers of one database (`payloads(engine)`); safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._packer = zstandard.ZstdCompressor(level=LEVEL)
        self._dictionary_id = 0
        self._samples = 0  # how many payloads the dictionary in use was trained on
        self._readers: dict[int, zstandard.ZstdDecompressor] = {0: zstandard.ZstdDecompressor()}
        self._looked = False
        self._packed_since_look = 0

    # Writing

    def pack(self, payload: dict[str, Any] | None) -> bytes:
        if not payload:
            return b""
        self._packed_since_look += 1
        return self._packer.compress(as_json(payload))

    def pack_many(self, payloads: Iterable[dict[str, Any] | None]) -> list[bytes]:
        return [self.pack(payload) for payload in payloads]

    def due(self) -> bool:
        """Whether to look for a newer dictionary (or train one) before the next batch: on the first batch, then
        every `RECHECK` payloads until the dictionary in use was trained on a full sample."""
        if self._samples >= TRAIN_SAMPLE:
            return False
        return not self._looked or self._packed_since_look >= RECHECK

    def refresh(self, conn: Connection) -> None:
        """Use the newest stored dictionary, or train one when the store has grown enough for a better one. Run in
        a transaction of its own: a dictionary is used only once it is stored."""
        with self._lock:
            self._looked, self._packed_since_look = True, 0
            self._use_newest(conn)
            if self._samples >= TRAIN_SAMPLE:
                return
            stored = conn.scalar(select(func.count()).select_from(
                select(t.activities.c.id).where(t.activities.c.payload != b"").limit(TRAIN_SAMPLE).subquery())) or 0
            if stored >= (TRAIN_SAMPLE if self._dictionary_id else TRAIN_AFTER):
                self._train(conn)

    def _use_newest(self, conn: Connection) -> None:
        d = t.payload_dictionaries.c
        row = conn.execute(select(d.id, d.data, d.samples).order_by(d.id.desc()).limit(1)).first()
        if row is not None and row.id != self._dictionary_id:
            self._use(row.id, row.data, row.samples)

    def _use(self, dictionary_id: int, data: bytes, samples: int) -> None:
        dictionary = zstandard.ZstdCompressionDict(data)
        self._packer = zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary)
        self._readers[dictionary_id] = zstandard.ZstdDecompressor(dict_data=dictionary)
        self._dictionary_id, self._samples = dictionary_id, samples

    def _train(self, conn: Connection) -> None:
        a = t.activities.c
        blobs = conn.scalars(select(a.payload).where(a.payload != b"").order_by(a.id.desc()).limit(TRAIN_SAMPLE))
        self.train(conn, [self._reader(conn, blob).decompress(blob) for blob in blobs])

    def train(self, conn: Connection, sample: Sequence[bytes]) -> None:
        """Train a dictionary on these payloads (JSON), store it in this transaction and pack with it from now on."""
        d = t.payload_dictionaries.c
        next_id = max(conn.scalar(select(func.max(d.id))) or 0, FIRST_ID - 1) + 1
        try:
            samples: list[bytes | bytearray | memoryview] = list(sample)
            trained = zstandard.train_dictionary(DICTIONARY_BYTES, samples, dict_id=next_id, level=LEVEL)
        except zstandard.ZstdError as exc:  # a sample too uniform or too small to learn from: try again later
            log.info("no payload dictionary trained from %d payloads: %s", len(sample), exc)
            return
        try:
            with conn.begin_nested():
                conn.execute(insert(t.payload_dictionaries).values(id=next_id, data=trained.as_bytes(),
                                                                   samples=len(sample)))
        except IntegrityError:  # another writer stored one with this id first: use theirs
            self._use_newest(conn)
            return
        log.info("trained payload dictionary %d on %d payloads", next_id, len(sample))
        self._use(next_id, trained.as_bytes(), len(sample))

    # Reading

    def unpack(self, conn: Connection, blob: bytes | None) -> dict[str, Any]:
        if not blob:
            return {}
        return orjson.loads(self._reader(conn, blob).decompress(blob))

    def unpack_many(self, conn: Connection, blobs: Sequence[bytes | None]) -> list[dict[str, Any]]:
        return [self.unpack(conn, blob) for blob in blobs]

    def _reader(self, conn: Connection, blob: bytes) -> zstandard.ZstdDecompressor:
        dictionary_id = zstandard.get_frame_parameters(blob).dict_id
        reader = self._readers.get(dictionary_id)
        if reader is None:
            d = t.payload_dictionaries.c
            row = conn.execute(select(d.data).where(d.id == dictionary_id)).first()
            if row is None:
                raise LookupError(f"a stored payload names dictionary {dictionary_id}, which is not in "
                                  "payload_dictionaries")
            reader = zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(row.data))
            self._readers[dictionary_id] = reader
        return reader


_by_engine: WeakKeyDictionary[Engine, Payloads] = WeakKeyDictionary()
_making = threading.Lock()


def payloads(bind: Engine | Connection) -> Payloads:
    """The packer and unpackers of this database (one per engine, kept while the engine lives)."""
    engine = bind.engine
    found = _by_engine.get(engine)
    if found is None:
        with _making:
            found = _by_engine.setdefault(engine, Payloads())
    return found


def ready(engine: Engine) -> Payloads:
    """The packer of this database, first switched to a newer dictionary (or one trained) when that is due. Call it
    before the transaction that packs: a dictionary is stored and committed before any payload uses it."""
    packer = payloads(engine)
    if packer.due():
        with engine.begin() as conn:
            packer.refresh(conn)
    return packer


def unpack(conn: Connection, blob: bytes | None) -> dict[str, Any]:
    """One stored payload as the dict it was."""
    return payloads(conn).unpack(conn, blob)
