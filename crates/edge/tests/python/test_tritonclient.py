"""The official Triton HTTP client (`tritonclient[http]`) drives a real `tandem edge` process.

Run with scripts/test-python.sh (it builds `tandem` and sets TANDEM_BIN).
"""

import os
import pathlib
import socket
import subprocess
import time

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

ROOT = pathlib.Path(__file__).resolve().parents[4]
MODEL = ROOT / "models" / "tiny_resnet.onnx"
INPUT = ROOT / "models" / "testdata" / "tiny_resnet_input.npy"
EXPECTED = ROOT / "models" / "testdata" / "tiny_resnet_expected_logits.npy"
TOKEN = "python-interop-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    binary = os.environ.get("TANDEM_BIN", str(ROOT / "target" / "debug" / "tandem"))
    work = tmp_path_factory.mktemp("edge")
    token_file = work / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(
        [binary, "edge", "--model", str(MODEL), "--listen", f"127.0.0.1:{port}",
         "--token-file", str(token_file), "--profile-budget-s", "0"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"127.0.0.1:{port}"
    client = httpclient.InferenceServerClient(url=url)
    deadline = time.time() + 120
    while True:
        try:
            if client.is_server_ready():
                break
        except Exception:
            pass
        if proc.poll() is not None or time.time() > deadline:
            log.close()
            raise RuntimeError("tandem edge did not start:\n" + (work / "server.log").read_text())
        time.sleep(0.1)
    yield client
    client.close()
    proc.terminate()  # SIGTERM: graceful shutdown, exit status 0
    assert proc.wait(timeout=30) == 0, (work / "server.log").read_text()
    log.close()


def tiny_input():
    return np.load(INPUT).astype(np.float32)


def test_health_is_open(server):
    assert server.is_server_live()
    assert server.is_server_ready()


def test_server_metadata(server):
    meta = server.get_server_metadata(headers=AUTH)
    assert meta["name"] == "tandem-edge"
    assert "binary_tensor_data" in meta["extensions"]
    assert "tandem_profile" in meta["extensions"]


def test_the_token_is_required(server):
    with pytest.raises(InferenceServerException, match="bearer token"):
        server.get_server_metadata()


def test_model_metadata(server):
    meta = server.get_model_metadata("tiny_resnet", headers=AUTH)
    assert meta["name"] == "tiny_resnet"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32]}]
    assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [1, 10]}]
    assert server.is_model_ready("tiny_resnet", headers=AUTH)


def test_json_infer(server):
    inp = httpclient.InferInput("input", [1, 3, 32, 32], "FP32")
    inp.set_data_from_numpy(tiny_input(), binary_data=False)
    out = httpclient.InferRequestedOutput("logits", binary_data=False)
    result = server.infer("tiny_resnet", [inp], outputs=[out], headers=AUTH, request_id="json-1")
    assert "data" in result.get_output("logits"), "JSON data, not binary"
    assert result.get_response()["id"] == "json-1"
    np.testing.assert_allclose(result.as_numpy("logits"), np.load(EXPECTED), atol=1e-4)


def test_binary_infer(server):
    inp = httpclient.InferInput("input", [1, 3, 32, 32], "FP32")
    inp.set_data_from_numpy(tiny_input(), binary_data=True)
    # No outputs named: tritonclient asks for every output as binary data.
    result = server.infer("tiny_resnet", [inp], headers=AUTH)
    assert result.get_output("logits")["parameters"]["binary_data_size"] == 40
    np.testing.assert_allclose(result.as_numpy("logits"), np.load(EXPECTED), atol=1e-4)
    params = result.get_response()["parameters"]
    assert params["tandem_cut"] == 0
    assert params["tandem_compute_ms"] >= 0


def test_bad_shape_is_a_clear_error(server):
    inp = httpclient.InferInput("input", [1, 3, 32, 16], "FP32")
    inp.set_data_from_numpy(tiny_input()[..., :16], binary_data=True)
    with pytest.raises(InferenceServerException, match=r"shape \[1, 3, 32, 16\]"):
        server.infer("tiny_resnet", [inp], headers=AUTH)


def test_hash_mismatch_is_refused(server):
    inp = httpclient.InferInput("input", [1, 3, 32, 32], "FP32")
    inp.set_data_from_numpy(tiny_input(), binary_data=True)
    with pytest.raises(InferenceServerException, match="model hash mismatch"):
        server.infer("tiny_resnet", [inp], headers=AUTH, parameters={"tandem_model_hash": "00" * 32})
