"""Clients for the GIFnets encoder served by TensorFlow Serving (the ``gifnets client`` command is
:mod:`gif_pipeline.cli.client`).

The served model is the SavedModel that ``export`` writes: signature
``serving_default``, input ``image`` uint8 ``[B, H, W, 3]``, outputs ``indices`` uint8 ``[B, H, W]``
and ``palette`` uint8 ``[B, Np, 3]``. A GIF is ``encode_gif(indices[0], palette[0])``.

* :class:`RestClient` — ``POST /v1/models/NAME[/versions/V]:predict`` with the row format
  (``{"instances": [{"image": ...}]}`` -> ``{"predictions": [...]}``) or the columnar format
  (``{"inputs": {"image": ...}}`` -> ``{"outputs": {...}}``).
* :class:`GrpcClient` — ``PredictionService.Predict`` with a ``PredictRequest`` (package
  ``tensorflow-serving-api``; imported only when used).

Both retry transient failures (HTTP 429/502/503/504, connection refused or reset, gRPC
UNAVAILABLE/DEADLINE_EXCEEDED) with exponential backoff, and turn the others into one clear
:class:`ServingError` line: a rejected request (HTTP 400 / INVALID_ARGUMENT), a model that is not
found or not loaded yet (HTTP 404 / NOT_FOUND, with the model's state when the server tells it),
an unreachable server.

    gifnets client --server localhost:8501 photo.jpg -o photo.gif
    gifnets client --server localhost:8500 --grpc --model gifnets a.png b.png -o gifs/
"""
from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
from typing import Callable

import numpy as np

from gif_pipeline.errors import GifnetsError

DEFAULT_MODEL = "gifnets"
SIGNATURE = "serving_default"
INPUT_NAME = "image"
REST_PORT, GRPC_PORT = 8501, 8500
REST_FORMATS = ("instances", "inputs")
RETRY_HTTP_STATUS = (429, 502, 503, 504)


class ServingError(GifnetsError):
    """TF Serving could not produce a GIF for a request."""


class BadRequestError(ServingError):
    """The server rejected the request (HTTP 400, gRPC INVALID_ARGUMENT): this input only."""


class ModelNotFoundError(ServingError):
    """The model (or version) is not served, or not loaded yet."""


class ServerUnreachableError(ServingError):
    """No answer from the server after the retries (refused, reset, timeout, unknown host)."""


class ServerUnavailableError(ServingError):
    """The server kept answering with a transient error (e.g. 503) after the retries."""


# ---------------------------------------------------------------------------------------- helpers


def parse_server(text: str, grpc: bool = False) -> tuple[str, int]:
    """``'host:port'``, ``'host'`` (default port), ``'http://host:port'`` or ``'[::1]:8500'``."""
    original = text
    text = text.strip()
    for scheme in ("http://", "https://", "grpc://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme):]
    text = text.rstrip("/")
    default = GRPC_PORT if grpc else REST_PORT
    if text.startswith("["):  # IPv6 literal
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            host = ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host or "/" in host:
        raise ValueError(f"--server must be HOST:PORT, got {original!r}")
    if not port_text:
        return host, default
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"--server port must be 1..65535, got {original!r}")
    return host, int(port_text)


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclasses.dataclass
class RetryPolicy:
    """``retries`` extra attempts after the first; waits ``backoff * 2**i`` (capped, +-20 % jitter)."""

    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self):
        if self.retries < 0 or self.backoff < 0:
            raise ValueError("retries and backoff must be >= 0")

    def delays(self):
        for i in range(self.retries):
            yield min(self.max_backoff, self.backoff * 2 ** i) * random.uniform(0.8, 1.2)


class _Transient(Exception):
    """Internal: a failure worth retrying; ``error`` is raised if the retries run out."""

    def __init__(self, error: ServingError):
        super().__init__(str(error))
        self.error = error


def _with_retries(policy: RetryPolicy, attempt: Callable[[], dict]) -> dict:
    delays = policy.delays()
    while True:
        try:
            return attempt()
        except _Transient as t:
            delay = next(delays, None)
            if delay is None:
                raise t.error from None
            policy.sleep(delay)


def _as_batch(images) -> np.ndarray:
    batch = np.asarray(images)
    if batch.ndim == 3:
        batch = batch[np.newaxis]
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3 or 0 in batch.shape:
        raise ValueError(f"images must be uint8 [H, W, 3] or [B, H, W, 3], got {batch.dtype} {batch.shape}")
    return batch


def check_outputs(outputs: dict, batch_shape: tuple) -> dict:
    """Validate and convert served outputs to ``indices`` uint8 ``[B, H, W]``, ``palette`` uint8 ``[B, Np, 3]``."""
    try:
        indices = np.asarray(outputs["indices"])
        palette = np.asarray(outputs["palette"])
    except KeyError as e:
        raise ServingError(f"the server's answer has no {e.args[0]!r} output (is this a gifnets model? "
                           f"outputs: {sorted(outputs)})") from None
    b, h, w = batch_shape[:3]
    if indices.shape != (b, h, w) or palette.ndim != 3 or palette.shape[0] != b or palette.shape[2] != 3 \
            or not 1 <= palette.shape[1] <= 256:
        raise ServingError(f"unexpected output shapes from the server: indices {indices.shape} (expected "
                           f"{(b, h, w)}), palette {palette.shape} (expected ({b}, Np, 3))")
    for name, value, limit in (("indices", indices, palette.shape[1] - 1), ("palette", palette, 255)):
        if value.size and (not np.issubdtype(value.dtype, np.integer) or value.min() < 0 or value.max() > limit):
            raise ServingError(f"the server's {name} are out of range (expected integers 0..{limit})")
    return {"indices": indices.astype(np.uint8), "palette": palette.astype(np.uint8)}


# ------------------------------------------------------------------------------------------- REST


def rest_payload(batch: np.ndarray, fmt: str = "instances", signature: str = SIGNATURE) -> dict:
    """The JSON body of a TF Serving REST predict request for a uint8 ``[B, H, W, 3]`` batch."""
    if fmt not in REST_FORMATS:
        raise ValueError(f"REST format must be one of {REST_FORMATS}, got {fmt!r}")
    batch = _as_batch(batch)
    if fmt == "instances":
        return {"signature_name": signature, "instances": [{INPUT_NAME: image.tolist()} for image in batch]}
    return {"signature_name": signature, "inputs": {INPUT_NAME: batch.tolist()}}


def parse_rest_response(body: dict, fmt: str = "instances") -> dict:
    """``{"predictions": [{...}, ...]}`` (row) or ``{"outputs": {...}}`` (columnar) -> dict of arrays."""
    if not isinstance(body, dict):
        raise ServingError(f"unexpected REST answer (not a JSON object): {str(body)[:200]}")
    if "predictions" in body:
        rows = body["predictions"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ServingError("unexpected REST answer: 'predictions' is not a list of objects")
        keys = set(rows[0]) if rows else set()
        return {k: np.asarray([r[k] for r in rows]) for k in keys}
    if "outputs" in body:
        outputs = body["outputs"]
        if not isinstance(outputs, dict):
            raise ServingError("unexpected REST answer: 'outputs' is not an object (the model has one output?)")
        return {k: np.asarray(v) for k, v in outputs.items()}
    raise ServingError(f"unexpected REST answer without 'predictions' or 'outputs': {str(body)[:200]}")


class RestClient:
    """TF Serving's REST API (``/v1/models/NAME:predict``)."""

    protocol = "rest"

    def __init__(self, host: str, port: int = REST_PORT, model: str = DEFAULT_MODEL, version: int | None = None,
                 signature: str = SIGNATURE, fmt: str = "instances", timeout: float = 120.0,
                 retry: RetryPolicy | None = None, session=None):
        import requests

        if fmt not in REST_FORMATS:
            raise ValueError(f"REST format must be one of {REST_FORMATS}, got {fmt!r}")
        self.base = f"http://{_host_for_url(host)}:{port}"
        self.model, self.version, self.signature, self.fmt = model, version, signature, fmt
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()

    @property
    def model_url(self) -> str:
        return f"{self.base}/v1/models/{self.model}" + (f"/versions/{self.version}" if self.version else "")

    def _get(self, url: str, data: bytes | None = None):
        import requests

        try:
            if data is None:
                return self.session.get(url, timeout=self.timeout)
            return self.session.post(url, data=data, headers={"Content-Type": "application/json"},
                                     timeout=self.timeout)
        except requests.exceptions.ConnectionError as e:
            text = str(e)
            unknown_host = "NameResolutionError" in text or "Name or service not known" in text \
                or "nodename nor servname" in text
            error = ServerUnreachableError(
                f"cannot reach TF Serving at {self.base}: "
                + ("unknown host" if unknown_host else "connection refused or reset")
                + " (is tensorflow_model_server running with --rest_api_port? is --server right?)")
            if unknown_host:
                raise error from None
            raise _Transient(error) from None
        except requests.exceptions.Timeout:
            raise _Transient(ServerUnreachableError(
                f"TF Serving at {self.base} did not answer within {self.timeout:g} s")) from None

    @staticmethod
    def _error_text(response) -> str:
        try:
            return str(response.json().get("error", response.text)).strip()
        except ValueError:
            return response.text.strip()[:300] or response.reason

    def model_state(self) -> str | None:
        """The served model's state (e.g. ``AVAILABLE``, ``LOADING``) or None if unknown."""
        try:
            response = self._get(self.model_url)
        except (_Transient, ServingError):
            return None
        if response.status_code != 200:
            return None
        try:
            states = [s.get("state") for s in response.json().get("model_version_status", [])]
        except (ValueError, AttributeError):
            return None
        return "AVAILABLE" if "AVAILABLE" in states else (states[0] if states else None)

    def _not_found(self, detail: str) -> ModelNotFoundError:
        state = self.model_state()
        what = f"model {self.model!r}" + (f" version {self.version}" if self.version else "")
        if state and state != "AVAILABLE":
            return ModelNotFoundError(f"{what} is not loaded yet on {self.base} (state {state}); try again shortly")
        return ModelNotFoundError(f"{what} is not served by {self.base} ({detail}); check --model/--version "
                                  "and the server's --model_name")

    def predict(self, images) -> dict:
        """uint8 ``[H, W, 3]`` or ``[B, H, W, 3]`` -> ``{"indices": [B, H, W], "palette": [B, Np, 3]}``."""
        batch = _as_batch(images)
        data = json.dumps(rest_payload(batch, self.fmt, self.signature), separators=(",", ":")).encode()
        url = self.model_url + ":predict"

        def attempt():
            response = self._get(url, data)
            status = response.status_code
            if status == 200:
                try:
                    body = response.json()
                except ValueError:
                    raise ServingError(f"TF Serving sent invalid JSON: {response.text[:200]!r}") from None
                return parse_rest_response(body, self.fmt)
            detail = self._error_text(response)
            if status in RETRY_HTTP_STATUS:
                raise _Transient(ServerUnavailableError(
                    f"TF Serving at {self.base} is unavailable (HTTP {status}: {detail}) after "
                    f"{self.retry.retries} retries"))
            if status == 400:
                raise BadRequestError(f"TF Serving rejected the request (HTTP 400): {detail}")
            if status == 404:
                raise self._not_found(f"HTTP 404: {detail}")
            raise ServingError(f"TF Serving answered HTTP {status}: {detail}")

        return check_outputs(_with_retries(self.retry, attempt), batch.shape)

    def close(self):
        self.session.close()


# ------------------------------------------------------------------------------------------- gRPC


def _import_grpc():
    try:
        import grpc
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError as e:
        raise ServingError(f"gRPC needs the tensorflow-serving-api package ({e}); "
                           "`pip install tensorflow-serving-api`, or use --rest") from None
    return grpc, predict_pb2, prediction_service_pb2_grpc


def grpc_request(batch: np.ndarray, model: str = DEFAULT_MODEL, signature: str = SIGNATURE,
                 version: int | None = None):
    """A ``PredictRequest`` for a uint8 ``[B, H, W, 3]`` batch."""
    import tensorflow as tf

    _, predict_pb2, _ = _import_grpc()
    batch = _as_batch(batch)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version:
        request.model_spec.version.value = int(version)
    request.inputs[INPUT_NAME].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.uint8))
    return request


def parse_grpc_response(response) -> dict:
    import tensorflow as tf

    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


class GrpcClient:
    """TF Serving's gRPC ``PredictionService.Predict``."""

    protocol = "grpc"

    def __init__(self, host: str, port: int = GRPC_PORT, model: str = DEFAULT_MODEL, version: int | None = None,
                 signature: str = SIGNATURE, timeout: float = 120.0, retry: RetryPolicy | None = None,
                 max_message_mb: int = 1024):
        grpc, _, services = _import_grpc()
        self.target = f"{_host_for_url(host)}:{port}"
        self.model, self.version, self.signature, self.timeout = model, version, signature, timeout
        self.retry = retry or RetryPolicy()
        size = max_message_mb * 1024 * 1024
        self.channel = grpc.insecure_channel(self.target, options=[("grpc.max_send_message_length", size),
                                                                   ("grpc.max_receive_message_length", size)])
        self.stub = services.PredictionServiceStub(self.channel)

    def predict(self, images) -> dict:
        grpc, _, _ = _import_grpc()
        batch = _as_batch(images)
        request = grpc_request(batch, self.model, self.signature, self.version)
        what = f"model {self.model!r}" + (f" version {self.version}" if self.version else "")

        def attempt():
            try:
                return parse_grpc_response(self.stub.Predict(request, timeout=self.timeout))
            except grpc.RpcError as e:
                code, detail = e.code(), (e.details() or "").strip()
                if code == grpc.StatusCode.UNAVAILABLE:
                    raise _Transient(ServerUnreachableError(
                        f"cannot reach TF Serving (gRPC) at {self.target}: {detail} (is tensorflow_model_server "
                        f"running with --port? is --server right?)")) from None
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise _Transient(ServerUnreachableError(
                        f"TF Serving at {self.target} did not answer within {self.timeout:g} s")) from None
                if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                            grpc.StatusCode.RESOURCE_EXHAUSTED):
                    raise BadRequestError(f"TF Serving rejected the request ({code.name}): {detail}") from None
                if code == grpc.StatusCode.NOT_FOUND:
                    raise ModelNotFoundError(f"{what} is not served (or not loaded yet) by {self.target}: {detail}; "
                                             "check --model/--version and the server's --model_name") from None
                raise ServingError(f"TF Serving (gRPC) failed with {code.name}: {detail}") from None

        return check_outputs(_with_retries(self.retry, attempt), batch.shape)

    def close(self):
        self.channel.close()


def make_client(server: str, grpc: bool = False, **kwargs):
    host, port = parse_server(server, grpc)
    if grpc:
        kwargs.pop("fmt", None)
        return GrpcClient(host, port, **kwargs)
    return RestClient(host, port, **kwargs)


# -------------------------------------------------------------------------------------- image -> GIF


@dataclasses.dataclass
class ServedGif:
    gif_bytes: bytes
    indices: np.ndarray
    palette: np.ndarray
    transparent_index: int | None


def gif_from_outputs(indices: np.ndarray, palette: np.ndarray, alpha_mask: np.ndarray | None = None) -> ServedGif:
    """Build the GIF; transparent pixels get an extra palette entry (index Np) when Np < 256."""
    from gif_pipeline.io import gif as gif_io

    transparent = None
    if alpha_mask is not None and alpha_mask.any():
        if palette.shape[0] < 256:
            transparent = palette.shape[0]
            palette = np.concatenate([palette, np.zeros([1, 3], np.uint8)])
            indices = np.where(alpha_mask, np.uint8(transparent), indices).astype(np.uint8)
        else:
            print("gifnets: warning: a 256-colour palette leaves no index for transparency; the GIF is opaque "
                  "(use --background, or serve a model with fewer colours)", file=sys.stderr)
    return ServedGif(gif_io.encode_gif(indices, palette, transparent_index=transparent), indices, palette, transparent)


def encode_file(client, path: str, background=None, max_pixels=None) -> ServedGif:
    from gif_pipeline.io import images as image_io

    kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
    loaded = image_io.load_image(path, background=background, **kwargs)
    out = client.predict(loaded.rgb)
    return gif_from_outputs(out["indices"][0], out["palette"][0], loaded.alpha_mask)


# ------------------------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    """``python -m gif_pipeline.serving.client ...`` is ``gifnets client ...``."""
    from gif_pipeline.cli import main as gifnets_main

    return gifnets_main(["client", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
