"""Argument types and helpers shared by every ``gifnets`` subcommand (each error is one argparse line)."""
from __future__ import annotations

import argparse
import contextlib
import os


def colors(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--colors must be an integer in 2..256, got {text!r}") from None
    if not 2 <= value <= 256:
        raise argparse.ArgumentTypeError(f"--colors must be in 2..256 (a GIF palette holds at most 256), got {value}")
    return value


def rgb(text: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    try:
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a colour: {text!r} (use e.g. white, #ff8800)") from None


def _int_in(text: str, low: int, high: int | None, message: str) -> int:
    """``text`` as an integer in ``low..high`` (no upper bound if None), else one argparse error line."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(message.format(text=text))
    return value


def alpha(text: str) -> int:
    return _int_in(text, 0, 255, "--alpha-threshold must be an integer in 0..255, got {text!r}")


def positive_int(text: str) -> int:
    return _int_in(text, 1, None, "expected a positive integer, got {text!r}")


def non_negative_int(text: str) -> int:
    return _int_in(text, 0, None, "expected an integer >= 0, got {text!r}")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def quality(text: str) -> int:
    return _int_in(text, 1, 100, "--quality must be an integer in 1..100, got {text!r}")


def loop_count(text: str) -> int:
    return _int_in(text, -1, 65535, "--loop must be an integer in -1..65535 (0 = forever, -1 = once), got {text!r}")


def add_output_arguments(p: argparse.ArgumentParser, json_stats: bool = True,
                         output_help: str = "output .gif file or folder") -> None:
    """``-o``, ``--force``, ``--quiet`` (and ``--json``): what every file-writing subcommand takes."""
    p.add_argument("-o", "--output", required=True, metavar="OUT", help=output_help)
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs (never an input)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    if json_stats:
        p.add_argument("--json", action="store_true", help="print one JSON object of stats per file on stdout")


@contextlib.contextmanager
def env_default(name: str, value: str | None):
    """Set ``$name`` to ``value`` for the block unless it is set already (or ``value`` is None)."""
    if value is None or name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)
