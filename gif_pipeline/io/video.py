"""Reading video through the ``imageio-ffmpeg`` binary: probe (size, fps, duration) and a streaming frame decoder.

Frames come out of one ffmpeg process as raw RGB on a pipe, one frame at a time, so a 1080p clip never sits in
memory. ffmpeg resamples the clip to a constant frame rate with its ``fps`` filter (frames dropped or repeated, as
gifski does), scales it (``--width`` / ``--height``, Lanczos) and cuts ``start`` / ``duration``.

Every failure is an :class:`~gif_pipeline.errors.ImageLoadError` with one line: not a video or corrupt, no video
stream, no frames, ``start`` past the end, a truncated stream (fewer frames decoded than the header promises).
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from typing import Iterator

import numpy as np

from gif_pipeline.errors import GifnetsError, ImageLoadError

#: Extensions read as video (anything else goes to Pillow; ``--animate`` joins stills).
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".webm", ".mov", ".mkv", ".mpg", ".mpeg", ".avi", ".ogv", ".flv", ".wmv", ".ts",
                    ".3gp", ".y4m")
#: Frame rate used when the clip's is above it: GIF delays below 2/100 s are shown as 1/10 s by browsers.
MAX_FPS = 50.0


@dataclasses.dataclass
class VideoInfo:
    """What the container header says about the first video stream."""

    width: int
    height: int
    fps: float
    duration: float | None  # seconds, None if unknown
    codec: str

    def frames(self, fps: float | None = None, start: float = 0.0, duration: float | None = None) -> int | None:
        """Frames a decode at ``fps`` (default: the clip's, capped at :data:`MAX_FPS`) from ``start`` gives."""
        if self.duration is None:
            return None
        length = max(0.0, self.duration - start)
        if duration is not None:
            length = min(length, duration)
        return int(round(length * (fps or min(self.fps, MAX_FPS))))


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # ImportError, or RuntimeError when the binary is missing
        from gif_pipeline.errors import MissingPrerequisiteError

        raise MissingPrerequisiteError(f"video input needs the ffmpeg of imageio-ffmpeg ({e}): "
                                       "pip install imageio-ffmpeg") from None


def is_video_path(path: str) -> bool:
    return os.path.splitext(str(path))[1].lower() in VIDEO_EXTENSIONS


_TELLING = ("Invalid data", "partial file", "Invalid NAL", "Decoding error", "corrupt", "moov atom", "No such file",
            "does not contain any stream", "Error opening input")


def _last_error(stderr: str) -> str:
    """The line of ffmpeg's stderr that tells a user what is wrong (its ``[component @ 0x...]`` prefixes removed)."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip()) for line in stderr.splitlines() if line.strip()]
    for key in _TELLING:
        for line in lines:
            if key in line:
                return line
    useful = [line for line in lines if "Terminating thread" not in line and "Task finished" not in line]
    return (useful or lines or ["ffmpeg failed"])[0]


def probe(path: str) -> VideoInfo:
    """Size, frame rate, duration and codec of the first video stream of ``path`` (ffmpeg's header parse)."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise ImageLoadError(f"{name}: file not found")
    if os.path.isdir(name):
        raise ImageLoadError(f"{name}: is a directory, not a video")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", name], capture_output=True, text=True,
                          errors="replace")
    err = proc.stderr
    if "Stream #" not in err and "Input #" in err:
        raise ImageLoadError(f"{name}: has no video stream (the file holds no streams)")
    if "Stream #" not in err:
        if "Invalid data" in err or "moov atom not found" in err or "Error opening input" in err:
            raise ImageLoadError(f"{name}: not a video ffmpeg can read, or corrupt/truncated ({_last_error(err)})")
        raise ImageLoadError(f"{name}: not a video ffmpeg can read ({_last_error(err)})")
    video = re.search(r"Stream #\S+.*?: Video: (\w+).*?, (\d{1,5})x(\d{1,5})[, \[]", err)
    if not video:
        raise ImageLoadError(f"{name}: has no video stream")
    line = err[video.start():err.find("\n", video.start())]
    fps_m = re.search(r"([\d.]+)(k?) fps", line) or re.search(r"([\d.]+)(k?) tbr", line)
    fps = float(fps_m.group(1)) * (1000 if fps_m.group(2) else 1) if fps_m else 25.0
    dur_m = re.search(r"Duration: (\d+):(\d+):([\d.]+)", err)
    duration = int(dur_m.group(1)) * 3600 + int(dur_m.group(2)) * 60 + float(dur_m.group(3)) if dur_m else None
    w, h = int(video.group(2)), int(video.group(3))
    if w == 0 or h == 0:
        raise ImageLoadError(f"{name}: video stream of size {w}x{h}")
    return VideoInfo(w, h, fps if fps > 0 else 25.0, duration, video.group(1))


def output_size(width: int, height: int, want_w: int | None, want_h: int | None) -> tuple[int, int]:
    """The frame size for ``--width`` / ``--height`` (one given: aspect kept, rounded; none: unchanged)."""
    if want_w and want_h:
        return int(want_w), int(want_h)
    if want_w:
        return int(want_w), max(1, int(round(height * want_w / width)))
    if want_h:
        return max(1, int(round(width * want_h / height))), int(want_h)
    return width, height


def iter_video(path: str, info: VideoInfo | None = None, fps: float | None = None, size: tuple[int, int] | None = None,
               start: float = 0.0, duration: float | None = None) -> Iterator[np.ndarray]:
    """Decode ``path`` frame by frame: uint8 ``[H, W, 3]`` frames at a constant ``fps`` (default: the clip's,
    capped at :data:`MAX_FPS`), scaled to ``size`` (w, h), from ``start`` for ``duration`` seconds.

    Raises ImageLoadError for ``start`` past the end, no decoded frame, or a decode that stops well before the
    header's duration (a truncated or corrupt stream)."""
    name = os.fspath(path)
    info = info or probe(name)
    rate = float(fps) if fps else min(info.fps, MAX_FPS)
    if start and info.duration is not None and start >= info.duration:
        raise ImageLoadError(f"{name}: --start {start:g} s is past the end of the {info.duration:.2f} s clip")
    w, h = size or (info.width, info.height)
    filters = [f"fps={rate!r}"]
    if (w, h) != (info.width, info.height):
        filters.append(f"scale={w}:{h}:flags=lanczos")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    if start:
        cmd += ["-ss", f"{start:.6f}"]
    cmd += ["-i", name]
    if duration is not None:
        cmd += ["-t", f"{duration:.6f}"]
    cmd += ["-map", "0:v:0", "-an", "-sn", "-vf", ",".join(filters), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    frame_bytes = w * h * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    count = 0
    try:
        while True:
            data = proc.stdout.read(frame_bytes)
            if not data:
                break
            if len(data) < frame_bytes:
                break
            count += 1
            yield np.frombuffer(data, np.uint8).reshape(h, w, 3)
        proc.stdout.close()
        stderr = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream and not stream.closed:
                stream.close()
    if code != 0 and count == 0:
        raise ImageLoadError(f"{name}: truncated or corrupt video: ffmpeg decoded no frame ({_last_error(stderr)})")
    if count == 0:
        where = f" after --start {start:g} s" if start else ""
        raise ImageLoadError(f"{name}: the video has no frames{where}")
    expected = info.frames(rate, start, duration)
    if expected is not None and count < expected - max(2, 0.05 * expected):
        detail = f"; ffmpeg: {_last_error(stderr)}" if stderr.strip() else ""
        raise ImageLoadError(f"{name}: truncated or corrupt video: decoded {count} frames, the header promises "
                             f"about {expected}{detail}")
    if code != 0:
        raise GifnetsError(f"{name}: ffmpeg failed while decoding ({_last_error(stderr)})")
