"""The ``gifnets`` command line: one module per subcommand (``encode``, ``bench``, ``client``), one shared
batch loop (:mod:`gif_pipeline.cli.batch`) and argument helpers (:mod:`gif_pipeline.cli.args`).

Exit codes: 0 success, 2 bad input or usage (the other files of a batch are still
encoded), 1 an unexpected internal error.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from gif_pipeline.cli import bench, client, compress, encode, interpolate, restore
from gif_pipeline.cli.batch import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK  # noqa: F401  (the exit codes)
from gif_pipeline.errors import GifnetsError

#: A subcommand module: ``add_parser(subparsers)`` registers its parser (its ``func`` runs it).
SUBCOMMANDS = (encode, bench, client, compress, interpolate, restore)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gifnets", description="GIF encoding with learned palettes and dithering.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


class _NoRetracingWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _drop_retracing_warnings():
    """Keep TensorFlow's "N out of the last N calls ... triggered tf.function retracing" off stderr.

    gifnets traces its compiled functions once per palette size and input shape, so ``gifnets bench`` (five
    sizes, two palette modes) trips TensorFlow's warning, which tells a user of the CLI nothing to act on.
    Other TensorFlow warnings are kept."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NoRetracingWarning) for f in logger.filters):
        logger.addFilter(_NoRetracingWarning())


def _import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up chatter (CUDA probes on CPU machines) kept off stderr.

    Python errors from the import still surface; set TF_CPP_MIN_LOG_LEVEL=0 to see everything (the
    retracing warnings too: :func:`_drop_retracing_warnings`).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "3":
        return
    _drop_retracing_warnings()
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    except ImportError:  # the runtime install (no TensorFlow): what needs it says so when it is used
        pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark has its own parser (and --help)
        _import_tensorflow_quietly()
        return bench.main(argv[1:])
    # Arguments first: --help and argument errors need no TensorFlow (~3-5 s to import on a small machine).
    args = build_parser().parse_args(argv)
    # `gifnets encode` and `restore` on the LiteRT backend run without TensorFlow; everything else imports it up front.
    command = {"encode": encode, "restore": restore}.get(args.command)
    if command is None or command.needs_tensorflow(args):
        _import_tensorflow_quietly()
    try:
        return args.func(args)
    except GifnetsError as e:
        print(f"gifnets: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("gifnets: interrupted", file=sys.stderr)
        return 130

