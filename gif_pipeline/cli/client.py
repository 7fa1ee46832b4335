"""``gifnets client``: send images to a TF Serving server and write the GIFs it returns
(the protocol code: :mod:`gif_pipeline.serving.client`)."""
from __future__ import annotations

import argparse
import os
import time

from gif_pipeline.cli import args as cli_args
from gif_pipeline.cli import batch
from gif_pipeline.errors import GifnetsError


def add_parser(sub):
    p = sub.add_parser("client", help="send images to a TF Serving server and write the GIFs it returns",
                       description="Encode images with a GIFnets model served by TensorFlow Serving (REST or gRPC). "
                       "One input: -o is a file or a folder. Several inputs: -o is a folder.")
    add_arguments(p)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``gifnets client`` arguments."""
    from gif_pipeline.serving.client import DEFAULT_MODEL, GRPC_PORT, REST_FORMATS, REST_PORT, SIGNATURE

    p.add_argument("inputs", nargs="+", metavar="IN", help="input images")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .gif file or folder")
    p.add_argument("--server", required=True, metavar="HOST:PORT",
                   help=f"TF Serving address (default ports: REST {REST_PORT}, gRPC {GRPC_PORT})")
    proto = p.add_mutually_exclusive_group()
    proto.add_argument("--rest", dest="grpc", action="store_false", help="use the REST API (default)")
    proto.add_argument("--grpc", dest="grpc", action="store_true", help="use gRPC (needs tensorflow-serving-api)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="served model name (default: %(default)s)")
    p.add_argument("--model-version", type=int, default=None, metavar="V", help="model version (default: latest)")
    p.add_argument("--signature", default=SIGNATURE, help="signature name (default: %(default)s)")
    p.add_argument("--rest-format", choices=REST_FORMATS, default="instances",
                   help="REST request format: row (instances) or columnar (inputs) (default: %(default)s)")
    p.add_argument("--timeout", type=cli_args.positive_float, default=120.0,
                   help="seconds per request (default: %(default)s)")
    p.add_argument("--retries", type=cli_args.non_negative_int, default=3,
                   help="retries of transient errors, with exponential backoff (default: %(default)s)")
    p.add_argument("--background", type=cli_args.rgb, default=None, metavar="COLOR",
                   help="composite transparent pixels onto COLOR instead of keeping GIF transparency")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs (never an input)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run, grpc=False)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gifnets client", description="Send images to TF Serving and write GIFs.")
    add_arguments(p)
    return p


def output_problem(dst: str, inputs, force: bool) -> str | None:
    """Why ``dst`` cannot be written (an input, or existing without ``force``), checked before any request."""
    for src in inputs:
        same = os.path.realpath(dst) == os.path.realpath(src)
        if not same and os.path.exists(dst) and os.path.exists(src):
            same = os.path.samefile(dst, src)
        if same:
            return f"{dst}: refusing to overwrite the input file {src}"
    if os.path.lexists(dst) and not force:
        return f"{dst}: already exists (use --force to overwrite)"
    return None


def run(args) -> int:
    """Encode every input through the server. Per-file problems (unreadable image, HTTP 400, existing
    output) are reported and the batch goes on (exit 2); server problems stop it."""
    from gif_pipeline.io import gif as gif_io
    from gif_pipeline.serving import client as serving

    try:
        client = serving.make_client(args.server, args.grpc, model=args.model, version=args.model_version,
                                     signature=args.signature, fmt=args.rest_format, timeout=args.timeout,
                                     retry=serving.RetryPolicy(retries=args.retries))
    except ValueError as e:
        raise GifnetsError(str(e)) from None
    outputs = gif_io.plan_outputs(args.inputs, args.output)

    def process(src, dst):
        start = time.perf_counter()
        try:
            gif = serving.encode_file(client, src, background=args.background)
        except serving.BadRequestError as e:
            raise GifnetsError(f"{src}: {e}") from None
        gif_io.atomic_write(dst, gif.gif_bytes, force=args.force, protect=args.inputs)
        return {"input": src, "output": dst, "colors": int(gif.palette.shape[0]), "bytes": len(gif.gif_bytes),
                "seconds": time.perf_counter() - start}

    def describe(stats):
        return (f"{stats['input']} -> {stats['output']}: {stats['colors']} colours, {stats['bytes']:,} bytes, "
                f"{stats['seconds']:.2f} s")

    try:
        # The server unreachable or the model missing: the other files would fail too, so the batch stops.
        return batch.run(zip(args.inputs, outputs), process, desc=f"serving ({client.protocol})", quiet=args.quiet,
                         describe=describe, precheck=lambda src, dst: output_problem(dst, args.inputs, args.force),
                         fatal=(serving.ServingError,))
    finally:
        client.close()
