"""Model versions and their lifecycle, as TF Serving's ServerCore / AspiredVersionsManager.

Each model's base path is polled for integer-named version folders; the version policy picks the
aspired ones. Loading (plus warmup) happens beside the serving versions; a version becomes
AVAILABLE only when ready, and an old version unloads only once an aspired one is AVAILABLE
(availability preserving), after its in-flight requests have finished. A failed load is reported
in status and metrics and never replaces what is serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tensorflow_serving.apis.get_model_status_pb2 import ModelVersionStatus

from .batching import BatchOptions, BatchQueue
from .errors import ServingError, from_exception
from .flags import map_base_path, session_threads
from .metrics import ServingMetrics
from .servable import Servable, session_config
from .validation import LabelMap, check_config
from .warmup import run_warmup

log = logging.getLogger(__name__)

# A version's states: ModelVersionStatus.State of the status API.
START, LOADING, AVAILABLE, UNLOADING, END = (ModelVersionStatus.START, ModelVersionStatus.LOADING,
                                             ModelVersionStatus.AVAILABLE, ModelVersionStatus.UNLOADING,
                                             ModelVersionStatus.END)


@dataclass
class Version:
    model: str
    number: int
    path: Path
    state: int = START
    error: ServingError | None = None
    servable: Servable | None = None
    in_flight: int = 0
    cancel_retry: bool = False  # set once no longer aspired: the load ends after the attempt in progress
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    queues: dict[str, BatchQueue] = field(default_factory=dict)

    @property
    def loaded(self) -> Servable:
        """The loaded servable of a version that serves; UNAVAILABLE once it is unloading."""
        if self.servable is None:
            raise ServingError("UNAVAILABLE", f"Version {self.number} of model {self.model} is unloading")
        return self.servable


@dataclass
class Model:
    name: str
    base_path: Path
    config: Any  # ModelConfig proto
    versions: dict[int, Version] = field(default_factory=dict)
    configured: bool = True


def version_dirs(base_path: Path) -> dict[int, Path]:
    """Integer-named subfolders (00000123 is 123); anything else (".tmp-xyz") is ignored."""
    try:
        entries = list(base_path.iterdir())
    except OSError:
        return {}
    return {int(p.name): p for p in entries if p.name.isdigit() and p.is_dir()}


def aspired(config: Any, found: dict[int, Path]) -> set[int]:
    policy = config.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return set(found)
    if kind == "specific":
        return set(policy.specific.versions) & set(found)
    count = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions else 1
    return set(sorted(found, reverse=True)[:count])


class Manager:
    def __init__(self, flags: Any, metrics: ServingMetrics, executor: Executor,
                 batch_options: BatchOptions | None) -> None:
        self.flags = flags
        self.metrics = metrics
        self.executor = executor
        self.batch_options = batch_options
        self.session_config = session_config(*session_threads(flags))
        self.models: dict[str, Model] = {}
        self.config: Any = None  # the ModelServerConfig applied last
        self.labels: LabelMap = {}  # model -> label -> version, as the last applied config set them
        self._load_executor = ThreadPoolExecutor(max(1, flags.num_load_threads), thread_name_prefix="load")
        self._loads: dict[tuple[str, int], asyncio.Future[None]] = {}
        self._unloads: set[asyncio.Future[None]] = set()
        self._lock = asyncio.Lock()

    # --- configuration ------------------------------------------------------------------------

    async def apply_config(self, config: Any) -> None:
        """Replace the model set with `config` (a ModelServerConfig); returns once the models it adds have
        loaded or failed (retries included).

        As ServerCore::ReloadConfig: the config is checked first (validation.check_config; labels
        against the versions AVAILABLE now, before this config's loads), and one that fails raises
        ServingError and changes nothing. The new label map is in place before the loads start."""
        async with self._lock:
            self.labels = check_config(
                config, previous=self.config, available=self.available_versions(), labels=self.labels,
                allow_version_labels_for_unavailable_models=self.flags.allow_version_labels_for_unavailable_models)
            self.config = config
            wanted = {c.name: c for c in config.model_config_list.config}
            added = {name for name in wanted if name not in self.models or not self.models[name].configured}
            for name, model in self.models.items():
                if name not in wanted:
                    model.configured = False
            for name, model_config in wanted.items():
                base = map_base_path(model_config.base_path, self.flags.base_path_map)
                known = self.models.get(name)
                if known is None:
                    self.models[name] = Model(name, base, model_config)
                else:
                    known.base_path, known.config, known.configured = base, model_config, True
            await self._reconcile_all()
            pending = [load for (name, _), load in self._loads.items() if name in added]
        # As AddModelsViaModelConfigList: wait for the models this config adds (all of them the first
        # time), not for new versions of models already served; and outside the lock, so that the
        # file-system poll goes on while a load retries.
        await asyncio.gather(*pending, return_exceptions=True)

    def available_versions(self) -> dict[str, set[int]]:
        """The AVAILABLE versions of each model (what TF Serving's servable state monitor reports)."""
        return {name: {n for n, v in model.versions.items() if v.state == AVAILABLE} for name, model in self.models.items()}

    # --- polling ------------------------------------------------------------------------------

    async def poll_forever(self) -> None:
        interval = self.flags.file_system_poll_wait_seconds
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._lock:
                    await self._reconcile_all()
            except Exception:  # a poll must never stop the polling
                log.exception("polling the model base paths failed")

    async def _reconcile_all(self) -> None:
        for model in self.models.values():
            self._reconcile(model)

    def _reconcile(self, model: Model) -> None:
        if model.configured:
            found = version_dirs(model.base_path)
            if not found:
                if not any(v.state == AVAILABLE for v in model.versions.values()):
                    log.warning("No versions of servable %s found under base path %s", model.name, model.base_path)
                return  # as TF Serving: an empty base path unloads nothing
            wanted = aspired(model.config, found)
            for number in [n for n, v in model.versions.items() if v.error and v.state == END and n not in found]:
                del model.versions[number]  # a failed version whose folder went away may be published anew
        else:
            found, wanted = {}, set()
        for number in sorted(wanted):
            version = model.versions.get(number)
            if version is None or (version.state == END and version.error is None):
                version = model.versions[number] = Version(model.name, number, found[number])
                self._loads[(model.name, number)] = asyncio.ensure_future(self._load(model, version))
        serving_aspired = any(model.versions[n].state == AVAILABLE for n in wanted if n in model.versions)
        for number, version in list(model.versions.items()):
            if number in wanted:
                continue
            if version.state == LOADING:  # aspired_versions_manager.cc: CancelLoadServableRetry
                version.cancel_retry = True
            if version.state != AVAILABLE:
                continue
            if model.configured and not serving_aspired:
                continue  # availability preserving: keep serving until a wanted version is ready
            unload = asyncio.ensure_future(self._unload(version))
            self._unloads.add(unload)  # the loop keeps only a weak reference to running tasks
            unload.add_done_callback(self._unloads.discard)

    async def _load(self, model: Model, version: Version) -> None:
        key = (model.name, version.number)
        attempts = 1 + max(0, self.flags.max_num_load_retries)
        try:
            version.state = LOADING
            for attempt in range(attempts):
                try:
                    version.servable = await asyncio.get_running_loop().run_in_executor(
                        self._load_executor, self._load_blocking, version)
                except ServingError as error:
                    version.error = error
                    log.error("Loading servable: {name: %s version: %d} failed: %s", model.name, version.number, error)
                    if attempt + 1 < attempts and not version.cancel_retry:
                        await asyncio.sleep(self.flags.load_retry_interval_micros / 1e6)
                        continue
                    version.state = END
                    serving = self.serving_version(model.name)
                    log.error("version %d of model %s failed to load; the serving version stays %s",
                              version.number, model.name, serving.number if serving else "none")
                    return
                version.error = None
                version.state = AVAILABLE
                log.info("Successfully loaded servable version {name: %s version: %d}", model.name, version.number)
                self._reconcile(model)
                return
        finally:
            self._loads.pop(key, None)

    def _load_blocking(self, version: Version) -> Servable:
        path = str(version.path)
        try:
            servable = Servable(version.model, version.number, version.path, self.session_config)
        except ServingError:
            self.metrics.load_attempt_count.labels(path, "fail").inc()
            raise
        self.metrics.load_attempt_count.labels(path, "success").inc()
        if self.flags.enable_model_warmup:
            started = time.perf_counter()
            try:
                count = run_warmup(servable)
            except Exception as error:
                self.metrics.warmup_latency.labels(path, "fail").observe((time.perf_counter() - started) * 1e6)
                raise from_exception(error) from None
            if count:
                self.metrics.warmup_latency.labels(path, "OK").observe((time.perf_counter() - started) * 1e6)
                log.info("Finished reading warmup data for model at %s. Number of warmup records read: %d.", path, count)
        return servable

    async def _unload(self, version: Version) -> None:
        version.state = UNLOADING
        if version.in_flight:
            version.idle.clear()
            await version.idle.wait()  # in-flight requests finish on the version they started on
        servable, version.servable = version.servable, None
        version.queues.clear()
        if servable is not None:
            servable.release()
            del servable
            # A loaded version's Python side is a web of reference cycles (the tf.Graph and its
            # Operations, which point back at it): until a full collection finds them, an unloaded
            # version keeps about 1 MB (measured over 12 loads of the CTR model), so a server that
            # swaps often grows without bound. One full collection per unload keeps RSS flat (tested
            # over 30 publish-and-unload cycles). It holds the GIL, but server.freeze_startup_objects keeps
            # TensorFlow's own objects out of it: ~10 ms here instead of ~200 ms.
            gc.collect()
        version.state = END
        log.info("Done unloading servable version {name: %s version: %d}", version.model, version.number)

    async def shutdown(self) -> None:
        for task in list(self._loads.values()):
            task.cancel()
        self._load_executor.shutdown(wait=False, cancel_futures=True)

    # --- requests -----------------------------------------------------------------------------

    def serving_version(self, name: str) -> Version | None:
        model = self.models.get(name)
        if model is None:
            return None
        available = [v for v in model.versions.values() if v.state == AVAILABLE]
        return max(available, key=lambda v: v.number) if available else None

    def label_version(self, name: str, label: str) -> int:
        """server_core.cc GetModelVersionForLabel. The version need not be AVAILABLE (a label may be
        set ahead of it with --allow_version_labels_for_unavailable_models): a request through it
        then gets the NOT_FOUND of Specific(name, version), as in TF Serving."""
        version = self.labels.get(name, {}).get(label)
        if version is None:
            raise ServingError("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
        return version

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Version:
        """The version a request goes to, with TF Serving's errors."""
        model = self.models.get(name)
        if label:
            version = self.label_version(name, label)
        if version is None:
            found = self.serving_version(name)
            if found is None:
                raise ServingError("NOT_FOUND", f"Servable not found for request: Latest({name})")
            return found
        found = model.versions.get(version) if model else None
        if found is None or found.state != AVAILABLE:
            raise ServingError("NOT_FOUND", f"Servable not found for request: Specific({name}, {version})")
        return found

    @contextlib.asynccontextmanager
    async def lease(self, name: str, version: int | None = None, label: str | None = None) -> AsyncIterator[Version]:
        """Hold a version for one request: it cannot finish unloading until the request is done."""
        found = self.resolve(name, version, label)
        found.in_flight += 1
        try:
            yield found
        finally:
            found.in_flight -= 1
            if not found.in_flight:
                found.idle.set()

    async def run(self, version: Version, signature: str, inputs: dict[str, np.ndarray],
                  api: str = "Predict") -> dict[str, np.ndarray]:
        """Run a signature (batched when batching is on); blocking work happens in the thread pool.

        The time is recorded as runtime_latency{API, runtime="TF1"}, as TF Serving records it around
        its session run (which, with batching on, is the batching session: queueing included)."""
        servable = version.loaded
        started = time.perf_counter()
        if self.batch_options is None:
            outputs = await asyncio.get_running_loop().run_in_executor(self.executor, servable.run, signature, inputs)
        else:
            queue = version.queues.get(signature)
            if queue is None:
                queue = version.queues[signature] = BatchQueue(
                    self.batch_options, lambda merged: servable.run(signature, merged), self.executor, self.metrics)
            outputs = await queue.submit(inputs)
        self.metrics.observe_runtime(version.model, api, (time.perf_counter() - started) * 1e6)
        return outputs

    # --- status -------------------------------------------------------------------------------

    def status(self, name: str, version: int | None = None) -> list[Version]:
        """Versions for GetModelStatus, newest first, with TF Serving's NOT_FOUND messages (a version
        label is not an argument: TF Serving's GetModelStatus ignores it and lists every version)."""
        model = self.models.get(name)
        if model is None or not model.versions:
            raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
        if version is not None:
            if version not in model.versions:
                raise ServingError("NOT_FOUND", f"Could not find version {version} of model {name}")
            return [model.versions[version]]
        return [model.versions[n] for n in sorted(model.versions, reverse=True)]
