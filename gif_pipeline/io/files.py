"""Safe output for every command: atomic writes that never replace an input, and the input -> output plan."""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterable

from gif_pipeline.errors import GifnetsError, OutputExistsError


def _same_file(a: str, b: str) -> bool:
    try:
        if os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path, data: bytes, force: bool = False, protect: Iterable = ()) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, then rename.

    Raises :class:`OutputExistsError` if ``path`` exists and ``force`` is false, or if
    ``path`` is the same file as any path in ``protect`` (the inputs) — even with
    ``force``. Raises :class:`GifnetsError` if the folder is missing or the write fails.
    Readers never see a half-written file, and no temp file is left behind.
    """
    with atomic_open(path, force, protect) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_open(path, force: bool = False, protect: Iterable = ()):
    """A binary file to stream an output into; it appears at ``path`` only when the block ends without an exception
    (a temp file in the same folder, then a no-clobber rename, or a replace with ``force``), else it is deleted:
    never a partial file at ``path``. The checks and errors of :func:`atomic_write` (which writes through it)."""
    target = os.fspath(path)
    for p in protect:
        if _same_file(target, os.fspath(p)):
            raise OutputExistsError(f"{target}: refusing to overwrite the input file {os.fspath(p)}")
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        raise GifnetsError(f"{target}: output folder {parent} does not exist")
    if os.path.isdir(target):
        raise OutputExistsError(f"{target}: is a directory")
    if os.path.lexists(target) and not force:
        raise OutputExistsError(f"{target}: already exists (use --force to overwrite)")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=parent)
    except OSError as e:
        raise GifnetsError(f"{target}: cannot write to {parent} ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode())
        if force:
            os.replace(tmp, target)
        else:
            _publish_no_clobber(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and not isinstance(e, FileExistsError):
            raise GifnetsError(f"{target}: cannot write ({e.strerror or e})") from None
        raise


def _publish_no_clobber(tmp: str, target: str) -> None:
    """Move ``tmp`` to ``target`` unless ``target`` appeared meanwhile (hard link is atomic no-clobber)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExistsError(f"{target}: already exists (use --force to overwrite)") from None
    except OSError:  # file system without hard links: best effort
        if os.path.lexists(target):
            raise OutputExistsError(f"{target}: already exists (use --force to overwrite)") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def plan_outputs(inputs: list[str], output: str, suffix: str = ".gif") -> list[str]:
    """Map inputs to output paths: one input -> ``output`` (a file, or NAME``suffix`` in an existing folder);
    several -> NAME``suffix`` in the folder ``output`` (created). GifnetsError for an impossible plan."""
    many = len(inputs) > 1
    if many or os.path.isdir(output) or output.endswith(os.sep):
        if os.path.exists(output) and not os.path.isdir(output):
            raise GifnetsError(f"{output}: with several inputs, -o must be a folder")
        os.makedirs(output, exist_ok=True)
        outs = [os.path.join(output, os.path.splitext(os.path.basename(p))[0] + suffix) for p in inputs]
    else:
        outs = [output]
    seen: dict[str, str] = {}
    for src, dst in zip(inputs, outs):
        key = os.path.realpath(dst)
        if key in seen:
            raise GifnetsError(f"{seen[key]} and {src} would both be written to {dst}; process them separately")
        seen[key] = src
    return outs
