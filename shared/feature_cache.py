"""The Redis cache of latest features that serving reads first: its keys, and invalidation.

Serving writes an entity's features under `cache_key(prefix, entity_id)` with a TTL; an ingest
deletes the keys of the entities it wrote, so the next request reads the new row from PostgreSQL
instead of serving features up to the TTL old.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import redis

_CHUNK = 1000


def cache_key(prefix: str, entity_id: str) -> str:
    """The Redis key holding an entity's cached features."""
    return prefix + entity_id


def invalidate(
    redis_url: str, prefix: str, entity_ids: Iterable[str], timeout_s: float = 5.0
) -> int:
    """UNLINK the cached features of `entity_ids`; returns how many keys existed.

    Raises redis.RedisError when Redis cannot be reached (the caller decides what that means).
    """
    client = redis.Redis.from_url(
        redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    removed = 0
    try:
        ids = iter(entity_ids)
        while chunk := list(islice(ids, _CHUNK)):
            removed += int(client.unlink(*(cache_key(prefix, entity_id) for entity_id in chunk)))
    finally:
        client.close()
    return removed
