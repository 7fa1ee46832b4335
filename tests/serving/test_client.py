"""The TF Serving clients (gif_pipeline/serving/client.py) and `gifnets client`.

The servers here answer like TF Serving (REST: /v1/models/NAME:predict with "instances"/"inputs",
GET /v1/models/NAME; gRPC: PredictionService.Predict) but run the exported SavedModel loaded in
this process, on 127.0.0.1 only. Every payload is checked against a direct call of that SavedModel.
A test against a real `tensorflow_model_server` runs only when that binary is on PATH.
"""
from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from concurrent import futures

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")

import checks  # noqa: E402
from export import export_saved_model as esm  # noqa: E402
from gif_pipeline import cli  # noqa: E402
from gif_pipeline.io import gif as gif_io  # noqa: E402
from gif_pipeline.serving import client as cl  # noqa: E402

NP = 8
MODEL = "gifnets"
DATA = checks.FIXTURES


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A tiny exported encoder (PointNet palette net, nearest colour) in TF Serving's layout."""
    import keras

    from gif_pipeline.models.gifnets.config import PaletteNetConfig
    from gif_pipeline.models.gifnets.palette_net import build_palette_net

    keras.utils.set_random_seed(3)
    net = build_palette_net(PaletteNetConfig(num_colors=NP, backbone="pointnet", pointnet_widths=(8, 8)))
    bundle = esm.EncoderBundle(net, None, NP, "net")
    base = str(tmp_path_factory.mktemp("serving"))
    path = esm.export_saved_model(bundle, base, MODEL, 1)
    loaded = tf.saved_model.load(path)
    return {"base": base, "path": path, "signature": loaded.signatures["serving_default"], "loaded": loaded}


def reference(served, batch):
    out = served["signature"](image=tf.constant(batch))
    return {k: v.numpy() for k, v in out.items()}


class FakeServing(http.server.ThreadingHTTPServer):
    """TF Serving's REST API for one model; ``script`` holds canned answers to give first
    (an int HTTP status, or "reset" to drop the connection)."""

    daemon_threads = True

    def __init__(self, served, model=MODEL, state="AVAILABLE"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.served, self.model, self.state = served, model, state
        self.script: list = []
        self.requests: list = []
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server_address[1]}"

    def stop(self):
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _model(self, path):
        m = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?(:predict)?", path)
        return m.groups() if m else (None, None, None)

    def do_GET(self):
        name, _, predict = self._model(self.path)
        if name != self.server.model or predict:
            return self._send(404, {"error": f"Could not find any versions of model {name}"})
        self._send(200, {"model_version_status": [{"version": "1", "state": self.server.state,
                                                   "status": {"error_code": "OK", "error_message": ""}}]})

    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server.requests.append((self.path, body))
        if server.script:
            action = server.script.pop(0)
            if action == "reset":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            return self._send(action, {"error": f"scripted HTTP {action}"})
        name, version, predict = self._model(self.path)
        if not predict:
            return self._send(404, {"error": "Malformed request"})
        if name != server.model or server.state != "AVAILABLE" or version not in (None, "1"):
            return self._send(404, {"error": f"Servable not found for request: Latest({name})"})
        try:
            payload = json.loads(body)
            if payload.get("signature_name", "serving_default") != "serving_default":
                raise ValueError(f"Serving signature name: \"{payload['signature_name']}\" not found in signature def")
            if "instances" in payload:
                rows = payload["instances"]
                images = [r["image"] if isinstance(r, dict) else r for r in rows]
            else:
                inputs = payload["inputs"]
                images = inputs["image"] if isinstance(inputs, dict) else inputs
            array = np.asarray(images)
            if array.dtype.kind not in "iu" or array.size and (array.min() < 0 or array.max() > 255):
                raise ValueError("Failed to process element: 0 of 'instances' list. JSON Value: not a uint8")
            out = reference(server.served, array.astype(np.uint8))
        except Exception as e:  # noqa: BLE001  (TF Serving answers 400 with the message)
            return self._send(400, {"error": f"{type(e).__name__}: {e}"})
        if "instances" in payload:
            rows = [{k: v[i].tolist() for k, v in out.items()} for i in range(array.shape[0])]
            return self._send(200, {"predictions": rows})
        self._send(200, {"outputs": {k: v.tolist() for k, v in out.items()}})


@pytest.fixture
def rest_server(served):
    server = FakeServing(served)
    yield server
    server.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def no_sleep_retry(retries=3):
    slept = []
    return cl.RetryPolicy(retries=retries, backoff=0.01, sleep=slept.append), slept


def image(h=20, w=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------ pure parts


def test_parse_server():
    assert cl.parse_server("localhost:9000") == ("localhost", 9000)
    assert cl.parse_server("http://example.org:8080/") == ("example.org", 8080)
    assert cl.parse_server("myhost") == ("myhost", cl.REST_PORT)
    assert cl.parse_server("myhost", grpc=True) == ("myhost", cl.GRPC_PORT)
    assert cl.parse_server("[::1]:8500") == ("::1", 8500)
    for bad in ("", ":80", "host:0", "host:http", "host:99999"):
        with pytest.raises(ValueError):
            cl.parse_server(bad)


def test_rest_payload_formats_and_response_parsing():
    batch = image(3, 2)[None]
    rows = cl.rest_payload(batch, "instances")
    assert rows["signature_name"] == "serving_default"
    assert np.array_equal(np.asarray(rows["instances"][0]["image"], np.uint8), batch[0])
    cols = cl.rest_payload(batch, "inputs")
    assert np.array_equal(np.asarray(cols["inputs"]["image"], np.uint8), batch)
    with pytest.raises(ValueError):
        cl.rest_payload(batch.astype(np.float32))
    parsed = cl.parse_rest_response({"predictions": [{"indices": [[0, 1]], "palette": [[1, 2, 3], [4, 5, 6]]}]})
    assert parsed["indices"].shape == (1, 1, 2) and parsed["palette"].shape == (1, 2, 3)
    with pytest.raises(cl.ServingError, match="predictions"):
        cl.parse_rest_response({"something": 1})
    with pytest.raises(cl.ServingError, match="out of range"):
        cl.check_outputs({"indices": np.array([[[0, 2]]]), "palette": np.zeros([1, 2, 3])}, (1, 1, 2))
    with pytest.raises(cl.ServingError, match="no 'palette'"):
        cl.check_outputs({"indices": np.zeros([1, 1, 2])}, (1, 1, 2))


def test_retry_policy_backoff_grows_and_is_capped():
    delays = list(cl.RetryPolicy(retries=6, backoff=1.0, max_backoff=5.0).delays())
    assert len(delays) == 6
    assert 0.8 <= delays[0] <= 1.2 and 1.6 <= delays[1] <= 2.4 and all(d <= 6.0 for d in delays)


# ---------------------------------------------------------------------------------------- REST


@pytest.mark.parametrize("fmt", cl.REST_FORMATS)
def test_rest_predict_matches_saved_model(served, rest_server, fmt):
    host, port = cl.parse_server(rest_server.address)
    client = cl.RestClient(host, port, MODEL, fmt=fmt)
    batch = np.stack([image(seed=1), image(seed=2)])
    got = client.predict(batch)
    want = reference(served, batch)
    assert got["indices"].dtype == np.uint8 and got["palette"].shape == (2, NP, 3)
    np.testing.assert_array_equal(got["indices"], want["indices"])
    np.testing.assert_array_equal(got["palette"], want["palette"])
    path, body = rest_server.requests[-1]
    assert path == f"/v1/models/{MODEL}:predict"
    assert (fmt in json.loads(body)) and json.loads(body)["signature_name"] == "serving_default"
    versioned = cl.RestClient(host, port, MODEL, version=1, fmt=fmt).predict(batch[:1])
    np.testing.assert_array_equal(versioned["indices"], want["indices"][:1])
    assert rest_server.requests[-1][0] == f"/v1/models/{MODEL}/versions/1:predict"


def test_rest_http_400_is_a_clear_bad_request(rest_server):
    host, port = cl.parse_server(rest_server.address)
    retry, slept = no_sleep_retry()
    client = cl.RestClient(host, port, MODEL, signature="no_such_signature", retry=retry)
    with pytest.raises(cl.BadRequestError, match=r"HTTP 400.*no_such_signature"):
        client.predict(image())
    assert slept == [] and len(rest_server.requests) == 1  # not retried


def test_rest_model_not_found_and_not_loaded(served, rest_server):
    host, port = cl.parse_server(rest_server.address)
    with pytest.raises(cl.ModelNotFoundError, match=r"model 'other' is not served .*HTTP 404"):
        cl.RestClient(host, port, "other").predict(image())
    rest_server.state = "LOADING"
    with pytest.raises(cl.ModelNotFoundError, match=r"not loaded yet .*state LOADING"):
        cl.RestClient(host, port, MODEL).predict(image())


def test_rest_retries_transient_errors_with_backoff(served, rest_server):
    host, port = cl.parse_server(rest_server.address)
    rest_server.script = [503, "reset", 502]
    retry, slept = no_sleep_retry(retries=3)
    got = cl.RestClient(host, port, MODEL, retry=retry).predict(image(seed=4))
    np.testing.assert_array_equal(got["indices"], reference(served, image(seed=4)[None])["indices"])
    assert len(slept) == 3 and slept[0] < slept[1] < slept[2]
    assert len(rest_server.requests) == 4

    rest_server.script = [503] * 3
    retry, slept = no_sleep_retry(retries=2)
    with pytest.raises(cl.ServerUnavailableError, match=r"HTTP 503.*after 2 retries"):
        cl.RestClient(host, port, MODEL, retry=retry).predict(image())
    assert len(slept) == 2


def test_rest_unreachable_port():
    retry, slept = no_sleep_retry(retries=2)
    client = cl.RestClient("127.0.0.1", free_port(), MODEL, retry=retry, timeout=5)
    start = time.monotonic()
    with pytest.raises(cl.ServerUnreachableError, match="cannot reach TF Serving at http://127.0.0.1:"):
        client.predict(image())
    assert len(slept) == 2 and time.monotonic() - start < 10


# ---------------------------------------------------------------------------------------- gRPC


@pytest.fixture
def grpc_server(served):
    """PredictionService on 127.0.0.1 running the loaded SavedModel, like tensorflow_model_server."""
    grpc, _, services = cl._import_grpc()
    from tensorflow_serving.apis import predict_pb2

    calls = {"n": 0, "unavailable": 0}

    class Servicer(services.PredictionServiceServicer):
        def Predict(self, request, context):
            calls["n"] += 1
            if calls["unavailable"]:
                calls["unavailable"] -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "scripted: server busy")
            if request.model_spec.name != MODEL:
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"Servable not found for request: Latest({request.model_spec.name})")
            if request.model_spec.signature_name not in ("", "serving_default"):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Serving signature name not found")
            if "image" not in request.inputs:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "input 'image' missing")
            array = tf.make_ndarray(request.inputs["image"])
            if array.dtype != np.uint8:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Expects arg[0] to be uint8 but {array.dtype}")
            response = predict_pb2.PredictResponse()
            response.model_spec.CopyFrom(request.model_spec)
            for name, value in reference(served, array).items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    services.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, calls
    server.stop(grace=None).wait(5)


def test_grpc_request_payload():
    pytest.importorskip("tensorflow_serving")
    batch = image(4, 5)[None]
    request = cl.grpc_request(batch, "m", version=3)
    assert request.model_spec.name == "m" and request.model_spec.version.value == 3
    assert request.model_spec.signature_name == "serving_default"
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["image"]), batch)
    assert request.inputs["image"].dtype == tf.uint8.as_datatype_enum


def test_grpc_predict_matches_saved_model_and_errors(served, grpc_server):
    port, calls = grpc_server
    batch = np.stack([image(seed=5), image(seed=6)])
    got = cl.GrpcClient("127.0.0.1", port, MODEL, timeout=30).predict(batch)
    want = reference(served, batch)
    np.testing.assert_array_equal(got["indices"], want["indices"])
    np.testing.assert_array_equal(got["palette"], want["palette"])

    with pytest.raises(cl.ModelNotFoundError, match=r"model 'nope' is not served.*Servable not found"):
        cl.GrpcClient("127.0.0.1", port, "nope", timeout=30).predict(image())
    with pytest.raises(cl.BadRequestError, match="INVALID_ARGUMENT"):
        cl.GrpcClient("127.0.0.1", port, MODEL, signature="bad", timeout=30).predict(image())

    calls["unavailable"], calls["n"] = 2, 0
    retry, slept = no_sleep_retry(retries=3)
    got = cl.GrpcClient("127.0.0.1", port, MODEL, retry=retry, timeout=30).predict(batch[:1])
    np.testing.assert_array_equal(got["indices"], want["indices"][:1])
    assert len(slept) == 2 and calls["n"] == 3


def test_grpc_unreachable_port():
    retry, slept = no_sleep_retry(retries=1)
    with pytest.raises(cl.ServerUnreachableError, match=r"cannot reach TF Serving \(gRPC\) at 127.0.0.1:"):
        cl.GrpcClient("127.0.0.1", free_port(), MODEL, retry=retry, timeout=5).predict(image())
    assert len(slept) == 1


# ----------------------------------------------------------------------------------------- CLI


def _png(path, rgb, mode="RGB"):
    Image.fromarray(rgb, mode).save(path)
    return str(path)


def test_cli_client_rest_writes_the_served_gifs(served, rest_server, tmp_path, capsys):
    a = _png(tmp_path / "a.png", np.asarray(Image.open(os.path.join(DATA, "hopper_64.png")).convert("RGB"))[:30, :40])
    b = _png(tmp_path / "b.png", image(17, 23, seed=9))
    out = tmp_path / "gifs"
    code = cli.main(["client", "--server", rest_server.address, "--rest", a, b, "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    for src in (a, b):
        rgb = np.asarray(Image.open(src).convert("RGB"))
        want = reference(served, rgb[None])
        frame = gif_io.decode_gif(str(out / (os.path.basename(src)[:-4] + ".gif")))[0]
        np.testing.assert_array_equal(frame.indices, want["indices"][0])
        np.testing.assert_array_equal(frame.palette[:NP], want["palette"][0])
    # existing outputs are kept (exit 2) unless --force; inputs are never overwritten
    before = (out / "a.gif").read_bytes()
    assert cli.main(["client", "--server", rest_server.address, a, "-o", str(out / "a.gif")]) == 2
    assert "already exists" in capsys.readouterr().err and (out / "a.gif").read_bytes() == before
    n = len(rest_server.requests)
    assert cli.main(["client", "--server", rest_server.address, "--force", a, "-o", a]) == 2
    assert "refusing to overwrite the input" in capsys.readouterr().err
    assert len(rest_server.requests) == n and Image.open(a).format == "PNG"


def test_cli_client_transparency_uses_a_spare_index(served, rest_server, tmp_path):
    rgba = np.dstack([image(12, 16, seed=7), np.full((12, 16), 255, np.uint8)])
    rgba[:4, :5, 3] = 0
    src = _png(tmp_path / "t.png", rgba, "RGBA")
    out = tmp_path / "t.gif"
    assert cli.main(["client", "--server", rest_server.address, "-q", src, "-o", str(out)]) == 0
    frame = gif_io.decode_gif(str(out))[0]
    assert frame.transparent_index == NP
    assert np.all(frame.indices[:4, :5] == NP) and np.all(frame.indices[4:] < NP)


def test_cli_client_grpc_and_errors(served, grpc_server, rest_server, tmp_path, capsys):
    port, _ = grpc_server
    src = _png(tmp_path / "g.png", image(15, 21, seed=8))
    out = tmp_path / "g.gif"
    assert cli.main(["client", "--server", f"127.0.0.1:{port}", "--grpc", src, "-o", str(out)]) == 0
    want = reference(served, np.asarray(Image.open(src))[None])
    np.testing.assert_array_equal(gif_io.decode_gif(str(out))[0].indices, want["indices"][0])

    capsys.readouterr()
    code = cli.main(["client", "--server", f"127.0.0.1:{free_port()}", "--retries", "0", src, "-o",
                     str(tmp_path / "x.gif")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach TF Serving" in err and "Traceback" not in err
    assert not (tmp_path / "x.gif").exists()
    code = cli.main(["client", "--server", rest_server.address, "--model", "missing", src, "-o",
                     str(tmp_path / "y.gif")])
    assert code == 2 and "model 'missing' is not served" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code = cli.main(["client", "--server", rest_server.address, str(bad), src, "-o", str(tmp_path / "many")])
    assert code == 2 and (tmp_path / "many" / "g.gif").exists() and not (tmp_path / "many" / "bad.gif").exists()


# ----------------------------------------------------------------------------- real TF Serving


@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None,
                    reason="tensorflow_model_server is not on PATH (not installable from this machine's registries; "
                           "see BUILD.md for the tensorflow/serving Docker image)")
def test_real_tensorflow_model_server(served, tmp_path):
    grpc_port, rest_port = free_port(), free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(["tensorflow_model_server", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                             f"--model_name={MODEL}", f"--model_base_path={os.path.abspath(served['base'])}/{MODEL}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}", timeout=2) as r:
                    if b"AVAILABLE" in r.read():
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.5)
        batch = image(19, 26, seed=11)[None]
        want = reference(served, batch)
        for client in (cl.RestClient("127.0.0.1", rest_port, MODEL, fmt="instances"),
                       cl.RestClient("127.0.0.1", rest_port, MODEL, fmt="inputs"),
                       cl.GrpcClient("127.0.0.1", grpc_port, MODEL)):
            got = client.predict(batch)
            np.testing.assert_array_equal(got["indices"], want["indices"])
            np.testing.assert_array_equal(got["palette"], want["palette"])
        with pytest.raises(cl.BadRequestError):
            cl.RestClient("127.0.0.1", rest_port, MODEL, signature="nope").predict(batch)
        with pytest.raises(cl.ModelNotFoundError):
            cl.RestClient("127.0.0.1", rest_port, "nope").predict(batch)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
