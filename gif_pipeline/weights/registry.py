"""The one weight registry: which trained files are installed, what each serves, and loading them checked.

Shipped files live in ``gif_pipeline/weights/`` (or the folder in ``$GIFNETS_WEIGHTS``), each with its
model card (``*.md``) beside it. ``registry.json`` in that folder lists every file: its name
(``family/stem``), kind, sha256, card, the palette size it was trained for (``np``), the sizes it serves,
and the command that evaluates it. Each model family declares its kinds of file (file-name pattern,
trainer, trainer output) in its ``presets.py`` (:data:`gif_pipeline.models.gifnets.presets.WEIGHT_KINDS`).
A folder without ``registry.json`` (a test's or a user's) is read by file name, unverified.

The runtime install (``pip install .``, the wheel) ships the ``.tflite`` files, cards and ``registry.json`` only;
the ``.keras`` files come with a checkout (``pip install -e .``) or the ``gifnets-keras-weights`` distribution
(:data:`KERAS_INSTALL`), whose package folder is read as a second weights folder (not with ``$GIFNETS_WEIGHTS``).
A ``.keras`` file that ``registry.json`` lists but that is not installed is one
:class:`KerasWeightsNotInstalledError` naming that command; the runtime reads the configs it needs from its
``.tflite`` entries (:func:`net_config`).

A model is found in this order: an explicit path, the weights folder, then the trainer's default output
(``runs/``). A file whose sha256 differs from its entry, or that cannot be loaded, is one
:class:`WeightsError` naming the file and what rebuilds it. Which network serves ``n`` colours is decided
here only: :func:`palette_net_for` and :func:`dither_net_for`.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import zipfile
from importlib import resources

from gif_pipeline.errors import GifnetsError, MissingPrerequisiteError

MANIFEST = "registry.json"


class WeightsError(GifnetsError):
    """A weight file is corrupt, replaced, or not a model of its kind."""


#: The import package of the ``gifnets-keras-weights`` distribution (``keras_weights/`` in a checkout): a folder of
#: the ``.keras`` files, which the runtime wheel leaves out (BUILD.md, "What ships where").
KERAS_PACKAGE = "gifnets_keras_weights"
#: What a runtime install runs to get them.
KERAS_INSTALL = "pip install ./keras_weights (in a gifnets checkout: the gifnets-keras-weights package)"


class KerasWeightsNotInstalledError(MissingPrerequisiteError):
    """A ``.keras`` file that ``registry.json`` lists is not installed (a runtime install: .tflite files only)."""


def _families() -> dict:
    """kind -> (family, WeightKind) over every model family."""
    from gif_pipeline.models.compress import presets as compress
    from gif_pipeline.models.gifnets import presets as gifnets
    from gif_pipeline.models.interp import presets as interp
    from gif_pipeline.models.restore import presets as restore

    return {**{kind: ("gifnets", spec) for kind, spec in gifnets.WEIGHT_KINDS.items()},
            **{kind: ("compress", spec) for kind, spec in compress.WEIGHT_KINDS.items()},
            **{kind: ("interp", spec) for kind, spec in interp.WEIGHT_KINDS.items()},
            **{kind: ("restore", spec) for kind, spec in restore.WEIGHT_KINDS.items()}}


KINDS = _families()


@dataclasses.dataclass(frozen=True)
class Entry:
    """One installed weight file."""

    name: str  # family/stem
    family: str
    kind: str
    file: str  # file name in the weights folder
    sha256: str | None = None  # None: found by name in a folder without registry.json (not verified)
    card: str | None = None
    np: int | None = None  # the palette size it was trained for
    serves: tuple[int, ...] = ()
    train: str = ""  # the command (presets) that reproduces it
    evaluate: str = ""  # the command that measures it
    source: str | None = None  # a runtime (.tflite) file: the .keras file it was built from
    source_sha256: str | None = None  # ... and that file's sha256 when it was built
    config: dict | None = None  # a runtime file: what the runtime reads of its source's config (net_config)


    @property
    def trainer(self) -> str:
        return self.train or KINDS[self.kind][1].trainer.format(np=self.np)


def weights_dir() -> str:
    """The shipped weights, or the folder named by the ``GIFNETS_WEIGHTS`` environment variable."""
    return os.environ.get("GIFNETS_WEIGHTS") or str(resources.files("gif_pipeline") / "weights")


def _spec(kind: str):
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind][1]


def weights_dirs() -> list[str]:
    """The folders the registry's files are read from: :func:`weights_dir`, then (unless ``$GIFNETS_WEIGHTS`` is
    set) the installed ``gifnets-keras-weights`` package's folder (:data:`KERAS_PACKAGE`)."""
    main = weights_dir()
    extra = None if os.environ.get("GIFNETS_WEIGHTS") else _keras_package_dir()
    return [main] + ([extra] if extra and os.path.realpath(extra) != os.path.realpath(main) else [])


@functools.lru_cache(maxsize=1)
def _keras_package_dir() -> str | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(KERAS_PACKAGE)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or ()) if spec else []
    return locations[0] if locations else None


def locate(name: str) -> str:
    """Path of the weights file ``name``: in the first of :func:`weights_dirs` that has it, else in :func:`weights_dir`."""
    folders = weights_dirs()
    return next((os.path.join(d, name) for d in folders if os.path.exists(os.path.join(d, name))),
                os.path.join(folders[0], name))


def shipped_path(kind: str, np: int | None = None) -> str:
    return locate(_spec(kind).file.format(np=np))


def _stamp(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def entries(kind: str | None = None) -> list[Entry]:
    """The weights folder's entries (of ``kind``) whose file is present: ``registry.json``'s, then any other
    file named like a kind's files (unverified)."""
    folder, *extra = weights_dirs()
    names = tuple(sorted({n for d in (folder, *extra) if os.path.isdir(d) for n in os.listdir(d)}))
    found = _entries(folder, names, _stamp(os.path.join(folder, MANIFEST)))
    return [e for e in found if kind is None or e.kind == kind]


@functools.lru_cache(maxsize=8)
def _entries(folder: str, names: tuple, manifest_stamp) -> tuple:
    listed = _listed(folder, manifest_stamp)
    present = set(names)
    out = [e for e in listed if e.file in present]
    known = {e.file for e in listed}
    for kind, (family, spec) in KINDS.items():
        pattern = re.escape(spec.file).replace(re.escape("{np}"), r"(\d+)")
        for name in names:
            m = re.fullmatch(pattern, name)
            if m and name not in known:
                np = int(m.group(1)) if spec.per_np else None
                card = name.rsplit(".", 1)[0] + ".md"
                out.append(Entry(f"{family}/{name.rsplit('.', 1)[0]}", family, kind, name, None,
                                 card if card in present else None, np, (np,) if np else ()))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _listed(folder: str, manifest_stamp) -> tuple:
    """Every entry of ``folder``'s ``registry.json``, installed or not."""
    listed = []
    if manifest_stamp is not None:
        path = os.path.join(folder, MANIFEST)
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)["entries"]
            listed = [Entry(**{**e, "serves": tuple(e.get("serves") or ())}) for e in raw]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise WeightsError(f"{path} is not a readable weight registry ({type(e).__name__}: {e}); "
                               "reinstall gifnets") from None
        unknown = [e.kind for e in listed if e.kind not in KINDS]
        if unknown:
            raise WeightsError(f"{path} lists weights of unknown kinds {sorted(set(unknown))}; "
                               f"this gifnets knows {sorted(KINDS)}")
    return tuple(listed)


def missing_keras(*kinds: str) -> list[str]:
    """The ``.keras`` files (of ``kinds``; all without) that ``registry.json`` lists but that are not installed."""
    folder = weights_dir()
    present = {e.file for e in entries()}
    return [e.file for e in _listed(folder, _stamp(os.path.join(folder, MANIFEST)))
            if e.file.endswith(".keras") and e.file not in present and (not kinds or e.kind in kinds)]


def _shown(files) -> str:
    files = sorted(files)
    return ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")


def keras_not_installed(files, what: str = "") -> KerasWeightsNotInstalledError:
    """The one-line error for ``.keras`` ``files`` that the registry lists and this install lacks."""
    return KerasWeightsNotInstalledError(f"{what or 'this'} needs the Keras weights ({_shown(files)}), which this "
                                         f"runtime install lacks: {KERAS_INSTALL}")


def keras_hint(files) -> str:
    """What to add to a "needs TensorFlow" line when ``files`` (:func:`missing_keras`) are missing too, else ``""``."""
    return f"; and the Keras weights ({_shown(files)}): {KERAS_INSTALL}" if files else ""


def find_model(kind: str, np: int | None = None, explicit: str | None = None, search_runs: bool = True) -> str:
    """Path of a trained ``kind`` model, or MissingPrerequisiteError naming the command to run first.

    Order: ``explicit`` (must exist), the shipped weights, then the trainer's default output.
    """
    spec = _spec(kind)
    if explicit:
        if not os.path.exists(explicit):
            raise MissingPrerequisiteError(f"no {kind} model at {explicit}")
        return explicit
    run_output, command = spec.run_output.format(np=np), spec.trainer.format(np=np)
    candidates = [shipped_path(kind, np)] + ([run_output] if search_runs else [])
    for path in candidates:
        if os.path.exists(path):
            return path
    absent = [f for f in missing_keras(kind) if f == os.path.basename(candidates[0])]
    if absent:
        raise keras_not_installed(absent, f"the {spec.title or kind} model")
    what = f"{kind} model" + (f" for {spec.np_name}={np}" if np is not None else "")
    raise MissingPrerequisiteError(f"no trained {what} (looked in {', '.join(candidates)}); run `{command}` first")


def shipped_colors(kind: str) -> list[int]:
    """The Np values with installed weights of ``kind`` (``palette`` or ``dither``): its ``.keras`` or runtime files."""
    return sorted({e.np for e in entries() if e.kind in (kind, f"{kind}_tflite") and e.np is not None})


#: What the runtime reads of a network's config (recorded with its runtime entry by ``export.export_runtime``).
RUNTIME_CONFIG_KEYS = ("input_size", "head", "head_sizes", "nested_sizes", "num_colors")


def net_config(kind: str, np: int | None = None) -> dict:
    """The config of the installed ``kind`` network: its ``.keras`` file's, else (a runtime install) the part of it
    recorded with its ``.tflite`` entry (:data:`RUNTIME_CONFIG_KEYS`)."""
    path = shipped_path(kind, np)
    if os.path.exists(path):
        return file_config(path)
    entry = next((e for e in entries(f"{kind}_tflite") if e.np == np), None)
    return dict(entry.config or {}) if entry else {}


def file_config(path: str) -> dict:
    """The model config stored in a ``.keras`` file (read from its archive; nothing is built)."""
    return dict(_file_config(path, _stamp(path)))


@functools.lru_cache(maxsize=32)
def _file_config(path: str, stamp) -> tuple:
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))["config"].get("config") or {}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, AttributeError):
        return ()  # loading the file gives the error
    return tuple(config.items()) if isinstance(config, dict) else ()


def palette_sizes() -> dict[int, int]:
    """Palette sizes the installed PaletteNets give from a head of their own, each mapped to the Np of the
    file that gives it: every file's Np, and its extra slot heads' (``PaletteNetConfig.head_sizes``).
    Reads the files' configs only."""
    nets = shipped_colors("palette")
    sizes = {np: np for np in nets}  # a file of a size's own comes first
    for np in nets:
        for size in net_config("palette", np).get("head_sizes") or ():
            sizes.setdefault(int(size), np)
    return sizes


def _is_nested(np_colors: int) -> bool:
    """Whether the installed PaletteNet giving ``np_colors`` is nested (its first n colours are a palette)."""
    return bool(net_config("palette", palette_sizes().get(np_colors, np_colors)).get("nested_sizes"))


def palette_net_for(n: int) -> tuple[int, str]:
    """Which installed PaletteNet gives ``n`` colours, and how: ``(Np, "exact" | "prefix" | "prune")``.

    ``Np`` is a network's or one of its slot heads' size (``head_sizes``: :func:`palette_sizes`).
    In order: a net for exactly ``n``; one for ``n + 1`` (the transparency entry), pruned; a nested
    net (``nested_sizes``) of at least ``n`` colours, whose first ``n`` colours are the palette; else
    the smallest larger net, pruned to its ``n`` most used colours. With no net of at least ``n``
    colours, ``(n, "exact")``: loading it raises the error that lists the installed ones.
    """
    shipped = sorted(palette_sizes())
    larger = [c for c in shipped if c > n]
    if n in shipped or not larger:
        return n, "exact"
    if n + 1 in shipped and not _is_nested(n + 1):
        return n + 1, "prune"
    nested = [c for c in larger if _is_nested(c)]
    if nested:
        return nested[0], "prefix"
    return larger[0], "prune"


def palette_file_np(n: int) -> int:
    """The Np of the installed PaletteNet file whose head (or nested prefix) gives ``n`` colours."""
    np_net, how = palette_net_for(n)
    np_net = np_net if how == "prefix" else n
    return palette_sizes().get(np_net, np_net)


def dither_net_for(n: int) -> int:
    """Np of the installed DitherNet used for ``n`` colours: the smallest >= ``n``, else the largest."""
    shipped = shipped_colors("dither")
    if not shipped:
        raise MissingPrerequisiteError("no trained DitherNet is installed; use --dither fs or none")
    return min([c for c in shipped if c >= n] or [max(shipped)])


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_for(path: str) -> Entry | None:
    """The registry entry of ``path`` when it is a file of the weights folder."""
    if os.path.dirname(os.path.realpath(path)) not in {os.path.realpath(d) for d in weights_dirs()}:
        return None
    name = os.path.basename(path)
    return next((e for e in entries() if e.file == name), None)


def verify(path: str) -> None:
    """WeightsError unless ``path``'s sha256 is its registry entry's (files outside the registry pass)."""
    entry = entry_for(path)
    if entry is None or entry.sha256 is None:
        return
    if _verified(path, _stamp(path)) != entry.sha256:
        raise WeightsError(f"{path} is corrupt or was replaced: its sha256 is not the one in {MANIFEST} "
                           f"({entry.name}); reinstall gifnets, or retrain it (`{entry.trainer}`) and ship it "
                           "with trainers/ship_model")


@functools.lru_cache(maxsize=32)
def _verified(path: str, stamp) -> str:
    return sha256(path)


def load(kind: str, np: int | None = None, explicit: str | None = None, search_runs: bool = True):
    """Load a trained model (registering gifnets' custom layers first), checked against the registry."""
    import keras

    from gif_pipeline.models.gifnets import banding_net, dither_net, palette_net  # noqa: F401  (registration)
    from gif_pipeline.models.restore import ccdnet, classifier  # noqa: F401  (registration)

    if kind.startswith("compress"):
        from gif_pipeline.models.compress import model  # noqa: F401  (registration)
    if kind == "interp":
        from gif_pipeline.models.interp import interp_net  # noqa: F401  (registration)

    path = find_model(kind, np, explicit, search_runs=search_runs)
    verify(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # a truncated zip, a foreign file, an unknown layer: one line, not a traceback
        raise WeightsError(f"cannot load the {kind} model {path} ({type(e).__name__}: {str(e).splitlines()[0]}); "
                           f"reinstall gifnets or retrain it (`{_spec(kind).trainer.format(np=np)}`)") from None


def runtime_entry(source: Entry, file: str, config: dict | None = None) -> Entry:
    """The registry entry of the LiteRT runtime model ``file`` built from ``source``'s ``.keras`` file; ``config``:
    what the runtime reads of the source's config (:data:`RUNTIME_CONFIG_KEYS`, :func:`net_config`)."""
    config = {k: config[k] for k in RUNTIME_CONFIG_KEYS if k in config} if config else None
    return Entry(f"{source.name}_tflite", source.family, f"{source.kind}_tflite", file, None, source.card, source.np,
                 source.serves, "python -m export.export_runtime",
                 "python benchmarks/runtime_equivalence.py ../shared/data/val", source.file, source.sha256, config or None)


def record(entry: Entry, folder: str | None = None) -> None:
    """Add or replace ``entry`` (by file) in ``folder``'s ``registry.json``, with the file's sha256."""
    from gif_pipeline.io.files import atomic_write

    folder = folder or weights_dir()
    path = os.path.join(folder, MANIFEST)
    data = {"format": 1, "entries": []}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    entry = dataclasses.replace(entry, sha256=sha256(os.path.join(folder, entry.file)))
    row = {**dataclasses.asdict(entry), "serves": list(entry.serves)}
    if row["config"] is None:
        del row["config"]
    rows = data["entries"]  # replaced in place (a stable file for diffs and merges), else appended
    at = next((i for i, e in enumerate(rows) if e.get("file") == entry.file), len(rows))
    data["entries"] = rows[:at] + [row] + [e for e in rows[at + 1:] if e.get("file") != entry.file]
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode(), force=True)
