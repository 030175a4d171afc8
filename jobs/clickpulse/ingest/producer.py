"""Kafka producer settings shared by the collector and the generator, and the dead-letter
record format (the pipeline's, connectors/dead_letter_sink.sql, plus where it came from)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson

from ..settings import Settings

# A dead letter keeps enough of the payload to debug it without risking Kafka's 1 MB
# message limit on a hostile body.
MAX_DEAD_LETTER_PAYLOAD = 64 * 1024


def quiet_logger(name: str) -> logging.Logger:
    """librdkafka's connection chatter, kept off a terminal: failures that matter come back
    as delivery reports and error callbacks, and are reported from there."""
    log = logging.getLogger(name)
    if not log.handlers:
        log.addHandler(logging.NullHandler())
        log.propagate = False
    return log


def producer_config(settings: Settings, client_id: str, **overrides: Any) -> dict:
    """acks=all plus idempotence: an acknowledged record is on every in-sync replica and a
    retry never writes it twice. murmur2 is the Java clients' partitioner, so a user's
    events land in the same partition whichever client wrote them."""
    conf = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    }
    conf.update(overrides)
    return conf


def iso_ms(epoch_ms: int) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def dead_letter(payload: str, reason: str, site_id: Any, received_at_ms: int, source: str) -> bytes:
    """One dead-letter record, shaped like the pipeline's so one consumer reads both."""
    if len(payload) > MAX_DEAD_LETTER_PAYLOAD:
        payload = payload[:MAX_DEAD_LETTER_PAYLOAD]
        reason += f" (payload cut to {MAX_DEAD_LETTER_PAYLOAD} characters)"
    return orjson.dumps({
        "payload": payload,
        "reason": reason,
        "site_id": site_id if isinstance(site_id, str) else None,
        "kafka_ts": iso_ms(received_at_ms),
        "kafka_partition": None,
        "kafka_offset": None,
        "source": source,
    })


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's, and librdkafka's murmur2_random partitioner)."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = length % 4
    tail = length - rest
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_of(key: bytes, partitions: int) -> int:
    """The partition a keyed record lands in (what Flink judges lateness by)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
