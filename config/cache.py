"""Redis cache whose ``clear()`` removes only this application's keys.

Django's ``RedisCache.clear()`` runs FLUSHDB, which on a Redis database shared with the
Celery broker would also delete queued report runs. Here it deletes only keys under the
cache's ``KEY_PREFIX``.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache


class PrefixedRedisCache(RedisCache):
    def clear(self) -> None:
        client = self._cache.get_client(None, write=True)
        pattern = f"{self.key_prefix}:*"  # Django keys are "<prefix>:<version>:<key>"
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
