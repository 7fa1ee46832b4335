"""The one batch loop of the ``gifnets`` subcommands: inputs -> outputs with a progress bar, one error line per
bad input (exit 2) while the rest of the batch goes on, and the stats of each file as text or JSON."""
from __future__ import annotations

import json
import sys
from typing import Callable, Iterable

from gif_pipeline.errors import GifnetsError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


def run(pairs: Iterable[tuple[str, str]], process: Callable[[str, str], dict], *, desc: str, quiet: bool,
        as_json: bool = False, describe: Callable[[dict], str] | None = None,
        precheck: Callable[[str, str], str | None] | None = None, fatal: tuple = ()) -> int:
    """Run ``process(src, dst) -> stats`` on every pair; return the exit code of the batch.

    ``precheck(src, dst)`` may name a problem before any work (one error line, exit 2). A
    :class:`GifnetsError` is one error line and exit 2; any other exception on one file is reported as an
    internal error (exit 1) and the batch goes on; ``fatal`` exception types stop the batch. Stats print as
    one JSON object per file (``as_json``) or as ``describe(stats)`` unless ``quiet``.
    """
    from tqdm import tqdm

    pairs = list(pairs)
    status = EXIT_OK
    for src, dst in tqdm(pairs, desc=desc, unit="img", disable=quiet or len(pairs) < 2, file=sys.stderr):
        problem = precheck(src, dst) if precheck else None
        if problem:
            tqdm.write(f"gifnets: error: {problem}", file=sys.stderr)
            status = max(status, EXIT_BAD_INPUT)
            continue
        try:
            stats = process(src, dst)
        except fatal:
            raise
        except GifnetsError as e:
            tqdm.write(f"gifnets: error: {e}", file=sys.stderr)
            status = max(status, EXIT_BAD_INPUT)
            continue
        except Exception as e:  # an internal error on one file must not lose the rest of the batch
            tqdm.write(f"gifnets: internal error on {src}: {type(e).__name__}: {e}", file=sys.stderr)
            status = status or EXIT_INTERNAL
            continue
        if as_json:
            tqdm.write(json.dumps(stats), file=sys.stdout)
        elif not quiet and describe is not None:
            tqdm.write(describe(stats), file=sys.stdout)
    return status
