"""Loading the runtime's LiteRT models: found through the weight registry, checked (sha256, and that the
``.keras`` file they were built from is still the registry's), one interpreter per file, loaded on first use."""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading

import numpy as np

#: The command that (re)builds every runtime model from the registry's ``.keras`` files.
REBUILD = "python -m export.export_runtime"


#: LiteRT threads unless ``$GIFNETS_THREADS`` says otherwise. One: on this project's shared 2-core machine a
#: whole `gifnets encode` of a 1200x800 photo at 256 colours took 0.71-0.73 s (median of 5) with one LiteRT and one
#: BLAS thread against 0.83-1.23 s with two each, and DitherNet on a 256x304 image 80 ms against 140 ms
#: (benchmarks/startup.py; BUILD.md). XNNPACK's threads wait for each other when other jobs hold the cores.
DEFAULT_THREADS = 1


def _threads() -> int:
    try:
        return max(1, int(os.environ.get("GIFNETS_THREADS") or DEFAULT_THREADS))
    except ValueError:
        return DEFAULT_THREADS


@contextlib.contextmanager
def _quiet_stderr():
    """LiteRT's C++ start-up line ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") kept off stderr, as
    the CLI does with TensorFlow's (``TF_CPP_MIN_LOG_LEVEL=0`` shows it). Python exceptions still surface."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class Model:
    """A LiteRT model with named signatures: ``run(signature, **inputs) -> {name: array}``."""

    def __init__(self, source: bytes | str, name: str = "", num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        kwargs = {"model_path": source} if isinstance(source, str) else {"model_content": source}
        self.name = name or (source if isinstance(source, str) else "model")
        with _quiet_stderr():
            self.interpreter = Interpreter(**kwargs, num_threads=num_threads or _threads())
        self.signatures = self.interpreter.get_signature_list()
        self._runners = {}

    def run(self, signature: str, **inputs) -> dict:
        runner = self._runners.get(signature)
        if runner is None:
            if signature not in self.signatures:
                raise KeyError(f"{self.name} has no signature {signature!r} (has {sorted(self.signatures)})")
            with _quiet_stderr():
                runner = self._runners[signature] = self.interpreter.get_signature_runner(signature)
                return runner(**{k: np.ascontiguousarray(v) for k, v in inputs.items()})
        return runner(**{k: np.ascontiguousarray(v) for k, v in inputs.items()})


def tflite_path(kind: str, np_colors: int) -> str:
    from gif_pipeline.weights import registry

    return registry.shipped_path(f"{kind}_tflite", np_colors)


#: Which copy of each interpreter the calling thread uses (:func:`batch_pool`'s workers have 1, 2, ...; others 0): an
#: interpreter must not run in two threads at once.
_LOCAL = threading.local()


def _slot() -> int:
    return getattr(_LOCAL, "slot", 0)


@functools.lru_cache(maxsize=24)
def _load(path: str, stamp, threads: int | None = None, slot: int = 0) -> Model:
    from gif_pipeline.weights import registry

    net = os.path.basename(path)
    if stamp is None:
        raise registry.WeightsError(f"the LiteRT model {path} is missing; rebuild it with `{REBUILD}` "
                                    "(or run the TensorFlow path: --backend tf)")
    entry = registry.entry_for(path)
    if entry is not None and entry.sha256 is not None:
        if registry._verified(path, stamp) != entry.sha256:
            raise registry.WeightsError(f"{path} is corrupt or was replaced: its sha256 is not the one in "
                                        f"{registry.MANIFEST}; rebuild it with `{REBUILD}` or reinstall gifnets")
        source = next((e for e in registry.entries() if e.file == entry.source), None)
        if entry.source_sha256 and source is not None and source.sha256 and source.sha256 != entry.source_sha256:
            raise registry.WeightsError(f"{path} was built from another {entry.source} than the installed one; "
                                        f"rebuild it with `{REBUILD}`")
    try:
        return Model(path, net, threads)
    except Exception as e:  # a truncated or foreign file
        raise registry.WeightsError(f"cannot load the LiteRT model {path} ({type(e).__name__}: "
                                    f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}); "
                                    f"rebuild it with `{REBUILD}`") from None


def load(kind: str, np_colors: int | None) -> Model:
    """The runtime model of the installed ``kind`` network file ("palette" or "dither" for ``np_colors``; a restore
    kind, :data:`gif_pipeline.runtime.restore.KINDS`, with ``None``)."""
    return load_file(tflite_path(kind, np_colors))


def load_file(path: str) -> Model:
    """The runtime model in ``path`` (checked against the registry when it is a file of the weights folder), on
    ``$GIFNETS_THREADS`` threads (read at each load: a new value loads a new interpreter)."""
    from gif_pipeline.weights import registry

    return _load(path, registry._stamp(path), _threads(), _slot())


def batch_workers() -> int:
    """Images :func:`gif_pipeline.encode.encode_batch` encodes at once on LiteRT: ``$GIFNETS_BATCH_WORKERS``, else
    one per CPU (at most 4). Each worker runs its own interpreters on ``$GIFNETS_THREADS`` threads; LiteRT's invoke
    and numpy's large operations release the GIL, so images run side by side."""
    try:
        value = int(os.environ.get("GIFNETS_BATCH_WORKERS") or 0)
    except ValueError:
        value = 0
    return max(1, value) if value else max(1, min(4, os.cpu_count() or 1))


def _set_slot(counter, lock):
    with lock:
        _LOCAL.slot = next(counter)


@functools.lru_cache(maxsize=4)
def batch_pool(workers: int):
    """A lasting thread pool of ``workers`` threads, each with its own interpreter slot (its interpreters stay loaded
    between batches)."""
    import concurrent.futures
    import itertools

    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="gifnets-litert",
                                                 initializer=_set_slot, initargs=(itertools.count(1), threading.Lock()))


def clear_cache():
    _load.cache_clear()
