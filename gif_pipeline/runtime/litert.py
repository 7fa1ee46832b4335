"""Loading the runtime's LiteRT models: found through the weight registry, checked (sha256, and that the
``.keras`` file they were built from is still the registry's), one interpreter per file, loaded on first use."""
from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import threading
import weakref

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


def _flush_c_stdio():
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to flush (Windows: CDLL(None) fails)
        pass


#: File descriptor 2 is the process's: two threads swapping it at once could leave it on /dev/null for good.
_STDERR_LOCK = threading.RLock()


@contextlib.contextmanager
def _quiet_stderr():
    """LiteRT's C++ start-up line ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") kept off stderr, as
    the CLI does with TensorFlow's (``TF_CPP_MIN_LOG_LEVEL=0`` shows it). Python exceptions still surface."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    with _STDERR_LOCK:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            _flush_c_stdio()  # LiteRT's CompiledModel logs through a buffered C stream: flush it while it goes nowhere
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


class Model:
    """A LiteRT model with named signatures: ``run(signature, **inputs) -> {name: array}``."""

    def __init__(self, source: bytes | str, name: str = "", num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        kwargs = {"model_path": source} if isinstance(source, str) else {"model_content": source}
        self.name = name or (source if isinstance(source, str) else "model")
        self.source, self.num_threads = source, num_threads or _threads()
        with _quiet_stderr():
            self.interpreter = Interpreter(**kwargs, num_threads=self.num_threads)
        self.signatures = self.interpreter.get_signature_list()
        self._runners = {}
        self._compiled = {}
        # One call at a time: an Interpreter's tensors are resized and filled per call, so two threads sharing the
        # cached model (the Python API from a thread pool, or a tf.data map) would run on each other's inputs.
        self._lock = threading.RLock()

    def static_shapes(self) -> bool:
        """Whether every tensor's shape follows from the inputs' (no SHAPE op: DitherNet's ``unet`` with transposed
        convs, not one with a resize layer). LiteRT's CompiledModel aborts the process on a graph whose shapes it
        can only learn while running it, so only such models go to it."""
        if getattr(self, "_static", None) is None:
            from ai_edge_litert import schema_py_generated as schema  # ~25 ms, once

            if isinstance(self.source, str):
                with open(self.source, "rb") as f:
                    data = f.read()
            else:
                data = self.source
            model = schema.Model.GetRootAs(data, 0)
            codes = {max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
                     for i in range(model.OperatorCodesLength())}
            self._static = schema.BuiltinOperator.SHAPE not in codes
        return self._static

    def compiled(self, signature: str):
        """``run(x) -> array`` for ``signature`` (one float32 input, one output): on the CompiledModel API
        (:class:`CompiledSignature`) if the model's shapes are static (:meth:`static_shapes`), unless
        ``$GIFNETS_LITERT_API=interpreter`` or that API fails here; else on the Interpreter."""
        runner = self._compiled.get(signature)
        if runner is None:
            if signature not in self.signatures:
                raise KeyError(f"{self.name} has no signature {signature!r} (has {sorted(self.signatures)})")
            (name,), (out,) = self.signatures[signature]["inputs"], self.signatures[signature]["outputs"]
            runner = None
            if _compiled_api() and self.static_shapes():
                try:
                    runner = CompiledSignature(self.source, signature, self.num_threads).run
                except Exception:  # an ai-edge-litert without this API, or one that refuses the model
                    runner = None
            if runner is None:
                def runner(x, name=name, out=out):
                    return self.run(signature, **{name: x})[out]
            self._compiled[signature] = runner
        return runner

    def run(self, signature: str, **inputs) -> dict:
        with self._lock:
            runner = self._runners.get(signature)
            if runner is None:
                if signature not in self.signatures:
                    raise KeyError(f"{self.name} has no signature {signature!r} (has {sorted(self.signatures)})")
                with _quiet_stderr():
                    runner = self._runners[signature] = self.interpreter.get_signature_runner(signature)
                    return runner(**{k: np.ascontiguousarray(v) for k, v in inputs.items()})
            return runner(**{k: np.ascontiguousarray(v) for k, v in inputs.items()})


#: XNNPACK's ``TFLITE_XNNPACK_DELEGATE_FLAG_TRANSIENT_INDIRECTION_BUFFER``: the convolutions' indirection buffers
#: (a pointer per kernel tap and output pixel: 72 bytes a pixel for a full-resolution 3x3 conv) share one workspace
#: instead of one buffer per op. DitherNet: 224 -> 161 MiB on a 448x648 window, same E', same speed (2026-12-06
#: notebook, "fast DitherNet on LiteRT"). The Python ``Interpreter`` cannot pass XNNPACK flags; LiteRT's
#: CompiledModel API can.
XNNPACK_TRANSIENT_INDIRECTION_BUFFER = 0x20


class CompiledSignature:
    """One signature of a LiteRT model with one float32 input and one float32 output (``run(x) -> array``) on
    LiteRT's CompiledModel API with XNNPACK flags (:data:`XNNPACK_TRANSIENT_INDIRECTION_BUFFER`). Re-allocates only
    when the input shape changes. Uses ai-edge-litert's pybind modules directly: its public ``compiled_model`` module
    imports ``ml_dtypes``, which took 1.5 s to import here. :meth:`Model.compiled` falls back to the Interpreter
    when this API is missing or refuses the model."""

    def __init__(self, source: bytes | str, signature: str, num_threads: int,
                 xnnpack_flags: int = XNNPACK_TRANSIENT_INDIRECTION_BUFFER):
        from ai_edge_litert import _pywrap_litert_compiled_model_wrapper as cm
        from ai_edge_litert import _pywrap_litert_tensor_buffer_wrapper as tb
        from ai_edge_litert.environment import Environment, EnvironmentOptions
        from ai_edge_litert.options import CpuOptions, Options

        self._tb = tb
        with _quiet_stderr():
            self._environment = _environment(Environment, EnvironmentOptions)
            kwargs = Options(cpu_options=CpuOptions(num_threads=num_threads, xnnpack_flags=xnnpack_flags))._as_flat_kwargs()
            create = cm.CreateCompiledModelFromFile if isinstance(source, str) else cm.CreateCompiledModelFromBuffer
            self._model = create(self._environment.capsule, source, **kwargs)
        self._index = self._model.GetSignatureIndex(signature)
        if self._index < 0:
            raise KeyError(f"no signature {signature!r}")
        self._shape, self._quiet_runs = None, 1
        self._lock = threading.Lock()  # one call at a time (its buffers are per shape, shared): as Model's
        _OPEN.add(self)
        _OPENED.append(True)

    def close(self):
        """Frees the model (quietly: LiteRT logs as it goes)."""
        if getattr(self, "_model", None) is not None:
            with _quiet_stderr():
                self._inputs = self._outputs = self._model = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter shutdown, os / sys may be gone
            pass

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        with self._lock:
            return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self._shape:
            with _quiet_stderr():
                self._model.ResizeInputTensor(self._index, 0, list(x.shape))
                self._inputs = self._model.CreateInputBuffers(self._index)
                self._outputs = self._model.CreateOutputBuffers(self._index)
                self._out_shape = tuple(int(d) for d in self._tb.GetTensorDetails(self._outputs[0])["shape"])
            self._shape = x.shape
        self._tb.WriteTensorBuffer(self._inputs[0], x.reshape(-1), "float32")
        if self._quiet_runs:  # the first run sets up LiteRT's accelerators, with log lines
            with _quiet_stderr():
                self._model.RunByIndex(self._index, self._inputs, self._outputs)
            self._quiet_runs -= 1
        else:
            self._model.RunByIndex(self._index, self._inputs, self._outputs)
        out = np.empty(int(np.prod(self._out_shape)), np.float32)
        self._tb.ReadTensorToBuffer(self._outputs[0], out, "float32")
        return out.reshape(self._out_shape)


_ENVIRONMENT = []
_ENVIRONMENT_LOCK = threading.Lock()


def _environment(environment_class, options_class):
    """One LiteRT environment for every :class:`CompiledSignature` of the process (each one loads the accelerator
    libraries)."""
    with _ENVIRONMENT_LOCK:
        if not _ENVIRONMENT:
            _ENVIRONMENT.append(environment_class.create(options=options_class()))
        return _ENVIRONMENT[0]


#: The open :class:`CompiledSignature` objects, closed quietly at exit.
_OPEN = weakref.WeakSet()


_OPENED = []


@atexit.register
def _close_all():
    """Closes the CompiledModel signatures quietly; once any was opened, stderr goes to /dev/null for the rest of the
    exit (after Python has printed any traceback): LiteRT's global accelerators log a line each when the library
    unloads, after every Python hook."""
    for runner in list(_OPEN):
        runner.close()
    with _quiet_stderr():
        _ENVIRONMENT.clear()
    if _OPENED and os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0":
        sys.stderr.flush()
        _flush_c_stdio()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)


def _compiled_api() -> bool:
    """``$GIFNETS_LITERT_API``: ``compiled`` (default) runs :meth:`Model.compiled` signatures on the CompiledModel
    API, ``interpreter`` on the Interpreter (for comparison)."""
    return os.environ.get("GIFNETS_LITERT_API", "compiled").strip().lower() != "interpreter"


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
