"""Fan the report's fit jobs out across the connected Celery workers (issue 17 item 5).

How a run's compute stage runs with a Redis broker and non-eager tasks (``fanout_runner``):

1. **Frames, once.** The analysis sets are pickled (protocol 5) straight into Redis in pieces (never whole in
   the run's memory: 76 MB at 100,000 patients), followed by their HMAC-SHA256 under the project's SECRET_KEY,
   and the finished value is renamed to
   ``reports:frames:<sha256(data fingerprint, parameters)>:<fan-out token>`` (TTL
   ``REPORTS_FANOUT_TTL_SECONDS``, deleted when the stage ends; never shared between runs, so frames
   derived by other code are never picked up). A worker verifies the signature before unpickling, so
   only a process holding the SECRET_KEY can make a worker load frames; it keeps the last frames it
   loaded in memory, so it reads them once per run however many units it takes. Redis (not the media
   folder) because workers on other machines share the broker, not necessarily a file system.
2. **Units on a Redis list.** The run's units (analytics.fits) go on ``reports:fanout:<token>:todo``,
   longest first; one ``analytics.tasks.fit_units_work`` message per unit is sent as a Celery
   ``group`` to the queue the report task came from. Each message pops one unit and runs it; its JSON
   fragment goes to the ``…:results`` hash and the unit's id to the ``…:done`` list.
3. **The coordinating process works too.** While units are left it pops and runs them itself, so a run
   never waits for a worker that is not there (no deadlock with one worker, and one worker alone
   computes everything, as the serial path). Then it waits (BLPOP) for the units others took.
4. **A lost worker never hangs the run.** A unit taken by another worker whose fragment has not arrived
   ``REPORTS_FIT_UNIT_TIMEOUT_SECONDS`` after it was taken (or after the list ran empty, if the worker
   died between taking it and stamping it) is run here; a late fragment is ignored.
   Messages expire after the same time, and every key has a TTL.

Results are the same as the serial path's byte for byte: every fragment is a JSON round trip of a pure
function of the same frames, and the merge order is the plan's, not the finishing order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import pickle  # noqa: S403 - signed payloads only (see _frames_load)
import time
import uuid
from typing import Any

from django.conf import settings

import analytics.compute  # noqa: F401 - registers the fit jobs (a worker may import this module first)
from analytics.fits import FitRunner, FitUnit, fit_unit_run, schedule_order, serial_runner
from analytics.memory import large_allocations_mapped
from analytics.parameters import parameters_parse
from analytics.stats.shared import shared_preparations

logger = logging.getLogger(__name__)
PREFIX = "reports:fanout:"
FRAMES_PREFIX = "reports:frames:"
SIGNATURE_BYTES = 32
PUBLISH_CHUNK_BYTES = 1 << 20  # the frames go to Redis in pieces of about 1 MiB (larger arrays as they are)
_frames_cache: dict[str, Any] = {}  # this process's last loaded frames: {frames key: sets}
_prepared: dict[str, dict] = {}  # the preparations its units shared (analytics.stats.shared): {frames key: memo}


def redis_client():
    """A Redis client on the broker's URL."""
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def fanout_enabled() -> bool:
    """Fan out when tasks go to real workers over Redis and ``REPORTS_FIT_FANOUT`` is on."""
    from config.celery_app import app

    broker = settings.CELERY_BROKER_URL or ""
    return bool(getattr(settings, "REPORTS_FIT_FANOUT", True)) and not app.conf.task_always_eager and broker.startswith("redis")


def _signature(blob: bytes | memoryview) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), blob, hashlib.sha256).digest()


def frames_key(fingerprint: str, params, token: str) -> str:
    """Redis key of a run's analysis sets: the data fingerprint and parameters that shape them, and the fan-out."""
    return f"{FRAMES_PREFIX}{hashlib.sha256(f'{fingerprint}|{params.key}'.encode()).hexdigest()}:{token}"


class _RedisAppender:
    """A write-only file for ``pickle.Pickler``: small writes gathered into ``PUBLISH_CHUNK_BYTES`` pieces, large
    ones (an array's data, handed over as a memoryview) sent as they are, each piece APPENDed to ``key``; the HMAC
    is updated with every byte in order."""

    def __init__(self, client, key: str):
        self.client, self.key = client, key
        self.mac = hmac.new(settings.SECRET_KEY.encode(), digestmod=hashlib.sha256)
        self.pending = bytearray()
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.mac.update(view)
        self.size += len(view)
        if len(view) >= PUBLISH_CHUNK_BYTES:
            self.flush()
            self.client.append(self.key, view)
        else:
            self.pending += view
            if len(self.pending) >= PUBLISH_CHUNK_BYTES:
                self.flush()
        return len(view)

    def flush(self) -> None:
        if self.pending:
            self.client.append(self.key, bytes(self.pending))
            self.pending.clear()


def frames_publish(client, key: str, sets: Any, ttl: int) -> int:
    """Store ``sets`` (pickle, then its signature) under ``key`` for ``ttl`` seconds; returns the size in bytes.

    The pickle is written in pieces to a temporary key (with the TTL from the start), the signature appended, and
    the key renamed: no reader sees a partial value, and the run's worker never holds the whole pickle (its peak
    memory would grow by the frames' size, 0.76 MB per 1,000 patients: issue 17 worker memory)."""
    partial = f"{key}:partial:{uuid.uuid4().hex}"
    client.set(partial, b"", ex=ttl)
    try:
        sink = _RedisAppender(client, partial)
        pickle.Pickler(sink, protocol=5).dump(sets)
        sink.flush()
        client.append(partial, sink.mac.digest())
        client.rename(partial, key)
    except BaseException:
        client.delete(partial)
        raise
    return sink.size + SIGNATURE_BYTES


def _frames_load(client, key: str) -> Any:
    if key in _frames_cache:
        return _frames_cache[key]
    payload = client.get(key)
    if payload is None:
        raise LookupError(f"analysis frames {key} are gone (expired)")
    blob, signature = memoryview(payload)[:-SIGNATURE_BYTES], payload[-SIGNATURE_BYTES:]  # no copy of the frames
    if not hmac.compare_digest(signature, _signature(blob)):
        raise ValueError(f"analysis frames {key}: bad signature, not loaded")
    _frames_cache.clear()
    _frames_cache[key] = pickle.loads(blob)  # noqa: S301 - signature verified above
    return _frames_cache[key]


def _keys(token: str) -> dict[str, str]:
    return {name: f"{PREFIX}{token}:{name}" for name in ("meta", "todo", "taken", "results", "done")}


def fit_units_work(token: str) -> str:
    """A worker's share (task ``analytics.tasks.fit_units_work``): pop one unit of fan-out ``token``, run it,
    store its fragment. Returns the unit's id, or "" when none was left (or the fan-out is over)."""
    client = redis_client()
    keys = _keys(token)
    raw_meta = client.get(keys["meta"])
    if raw_meta is None:
        return ""
    meta = json.loads(raw_meta)
    popped = client.lpop(keys["todo"])
    if popped is None:
        _frames_cache.clear()  # the run's units are all taken: free the frames
        _prepared.clear()
        return ""
    unit = FitUnit.from_id(popped.decode())
    large_allocations_mapped(settings.REPORTS_MALLOC_MMAP_THRESHOLD)  # as the pipeline does (analytics.memory)
    client.hset(keys["taken"], unit.id, time.time())
    sets = _frames_load(client, meta["frames"])
    if meta["frames"] not in _prepared:  # a new run's frames: the last run's preparations go with its frames
        _prepared.clear()
    with shared_preparations(_prepared.setdefault(meta["frames"], {})):
        fragment = fit_unit_run(unit, sets, parameters_parse(meta["parameters"]))
    pipe = client.pipeline()
    pipe.hset(keys["results"], unit.id, json.dumps(fragment, allow_nan=False))
    pipe.rpush(keys["done"], unit.id)
    pipe.execute()
    return unit.id


def _dispatch(token: str, count: int, queue: str | None, expires: float) -> None:
    from celery import group

    from analytics.tasks import fit_units_work_task

    options: dict[str, Any] = {"expires": expires, **({"queue": queue} if queue else {})}
    group(fit_units_work_task.si(token).set(**options) for _ in range(count)).apply_async()


def fanout_runner(*, fingerprint: str, queue: str | None = None) -> FitRunner:
    """A runner for :func:`analytics.fits.fits_compute` that shares the units with the workers on ``queue``.

    If Redis fails mid-way the units are all run here instead (the serial path: same numbers, slower)."""
    from redis.exceptions import RedisError

    def run(units: list[FitUnit], sets: Any, params: Any) -> dict[FitUnit, dict[str, Any]]:
        try:
            return fanout_run(units, sets, params, fingerprint=fingerprint, queue=queue)
        except RedisError:
            logger.warning("Fit fan-out: Redis failed; computing every unit in this process", exc_info=True)
            return serial_runner(units, sets, params)

    return run


def fanout_run(units: list[FitUnit], sets: Any, params: Any, *, fingerprint: str, queue: str | None) -> dict[FitUnit, dict]:
    """Run ``units`` here and on the workers (module doc); every unit's fragment, whoever ran it.

    Logs one line per fan-out (INFO, ``analytics.fanout``): the frames' size and the seconds spent publishing
    them, how many units ran here and their CPU seconds, and the wall seconds spent waiting for the others
    (``benchmarks/report_fanout.py`` reads it to tell the schedule from the machine's load)."""
    client = redis_client()
    token = uuid.uuid4().hex
    keys = _keys(token)
    timeout = float(settings.REPORTS_FIT_UNIT_TIMEOUT_SECONDS)
    ttl = int(settings.REPORTS_FANOUT_TTL_SECONDS)
    key = frames_key(fingerprint, params, token)
    started, cpu_started = time.perf_counter(), time.process_time()
    size = frames_publish(client, key, sets, ttl)
    pipe = client.pipeline()
    pipe.set(keys["meta"], json.dumps({"frames": key, "parameters": params.as_dict()}), ex=ttl)
    pipe.rpush(keys["todo"], *[u.id for u in schedule_order(units)])
    for name in ("todo", "taken", "results", "done"):
        pipe.expire(keys[name], ttl)
    pipe.execute()
    _dispatch(token, len(units), queue, timeout)
    published = time.perf_counter() - started
    fragments: dict[FitUnit, dict] = {}
    wanted = {u.id: u for u in units}
    drained_at = None
    here, here_cpu, waited = 0, 0.0, 0.0
    try:
        while len(fragments) < len(units):
            popped = client.lpop(keys["todo"])
            if popped is not None:  # still units left: take one here
                unit = wanted[popped.decode()]
                client.hset(keys["taken"], unit.id, time.time())
                unit_cpu = time.process_time()
                fragments[unit] = fit_unit_run(unit, sets, params)
                here, here_cpu = here + 1, here_cpu + time.process_time() - unit_cpu
                continue
            drained_at = drained_at or time.time()
            _collect(client, keys, wanted, fragments)
            for unit in _lost(client, keys, wanted, fragments, timeout, drained_at):
                logger.warning("Fit unit %s: no result %.0f s after a worker took it; running it here", unit.id, timeout)
                fragments[unit] = fit_unit_run(unit, sets, params)
            if len(fragments) < len(units):
                waiting = time.perf_counter()
                client.blpop([keys["done"]], timeout=1)
                waited += time.perf_counter() - waiting
    finally:
        client.delete(key, *keys.values())
    logger.info(
        "Fit fan-out %s: %d units, %d here (%.2f s CPU), %d on other workers; frames %.1f MB published in %.2f s; "
        "waited %.2f s for the others; %.2f s wall, %.2f s CPU here in all",
        token,
        len(units),
        here,
        here_cpu,
        len(units) - here,
        size / 1e6,
        published,
        waited,
        time.perf_counter() - started,
        time.process_time() - cpu_started,
    )
    return fragments


def _collect(client, keys: dict[str, str], wanted: dict[str, FitUnit], fragments: dict[FitUnit, dict]) -> None:
    missing = [uid for uid, unit in wanted.items() if unit not in fragments]
    if not missing:
        return
    for uid, raw in zip(missing, client.hmget(keys["results"], missing), strict=True):
        if raw is not None:
            fragments[wanted[uid]] = json.loads(raw)


def _lost(
    client, keys, wanted: dict[str, FitUnit], fragments: dict[FitUnit, dict], timeout: float, drained_at: float
) -> list[FitUnit]:
    """Units taken by another process more than ``timeout`` seconds ago (unstamped ones: ``timeout`` after the
    list ran empty at ``drained_at``) whose fragment never came."""
    missing = [uid for uid, unit in wanted.items() if unit not in fragments]
    if not missing:
        return []
    now = time.time()
    taken = client.hmget(keys["taken"], missing)
    return [
        wanted[uid] for uid, at in zip(missing, taken, strict=True) if now - (drained_at if at is None else float(at)) > timeout
    ]
