"""`tandem export` repositories under ONNX Runtime give Tandem's own split-execution outputs.

For every bundled model (models/*.onnx), `tandem export --test-vectors` writes the part after
each chosen cut plus, per cut, the crossing tensors Tandem's part before the cut computes and
the outputs of Tandem's part after it (tract). ONNX Runtime runs each exported `model.onnx`
on those crossing tensors and must reproduce the outputs (atol 1e-4). The repository's
config.pbtxt and manifest must describe exactly the ONNX model served.

Every cut of the small models is exported; the large ones get an evenly spread sample
(TANDEM_EXPORT_ALL=1 exports every cut of every model).

Run by scripts/test-scaleout.sh; needs TANDEM_BIN (a built `tandem`).
"""
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
ATOL = 1e-4
# Plus a relative term: face_detector's box outputs reach ~540, where float32 rounding alone
# is 3e-5 per operation; the unmodified model file under ONNX Runtime differs from tract by
# 4.6e-4 there (relative 1e-6), exactly as the exported parts do.
RTOL = 1e-5
# Real inputs where the repository has them (else `tandem` uses a seeded one).
INPUTS = {
    "tiny_resnet": "tiny_resnet_input.npy",
    "mobilenetv2": "mobilenetv2_input.npy",
    "face_detector": "face_detector_input.npy",
    "face_embedder": "obama_crop.npy",
}
SMALL = {"tiny_resnet", "branchynet_fmnist"}


def _fixed_shapes(path):
    """Whether every input of the model has a concrete shape (symbolic dims need --input)."""
    inputs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()
    return all(isinstance(d, int) for i in inputs for d in i.shape)


# Every bundled model whose input shapes are fixed (the text encoders' sequence length is
# symbolic: `tandem export` refuses them without an input, as docs/MODELS.md says).
ALL_MODELS = sorted(p.stem for p in MODELS.glob("*.onnx") if _fixed_shapes(p))


def cut_spec(name):
    if name in SMALL or os.environ.get("TANDEM_EXPORT_ALL") == "1":
        return "all"
    return "spread:5"


def tandem(*args):
    exe = os.environ.get("TANDEM_BIN")
    if not exe:
        pytest.fail("TANDEM_BIN must name a built `tandem` binary (scripts/test-scaleout.sh sets it)")
    done = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"tandem {' '.join(map(str, args))} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One repository holding every model's exported cuts, and their test vectors."""
    base = tmp_path_factory.mktemp("export")
    repo, vectors = base / "repo", base / "vectors"
    for name in ALL_MODELS:
        args = ["export", MODELS / f"{name}.onnx", "--cuts", cut_spec(name), "--out", repo, "--test-vectors", vectors]
        if name in INPUTS:
            args += ["--input", MODELS / "testdata" / INPUTS[name]]
        tandem(*args)
    manifest = json.loads((repo / "tandem-manifest.json").read_text())
    return repo, vectors, manifest


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


NP_TO_TRITON = {
    "tensor(float)": "TYPE_FP32",
    "tensor(double)": "TYPE_FP64",
    "tensor(int64)": "TYPE_INT64",
    "tensor(int32)": "TYPE_INT32",
    "tensor(int8)": "TYPE_INT8",
    "tensor(uint8)": "TYPE_UINT8",
    "tensor(bool)": "TYPE_BOOL",
}


def parse_config(text):
    """(name, platform, max_batch_size, inputs, outputs) of a config.pbtxt written by tandem."""
    name = re.search(r'^name: "(.*)"$', text, re.M).group(1)
    platform = re.search(r'^platform: "(.*)"$', text, re.M).group(1)
    batch = int(re.search(r"^max_batch_size: (\d+)$", text, re.M).group(1))

    def tensors(section):
        block = re.search(rf"^{section} \[\n(.*?)^\]", text, re.M | re.S).group(1)
        found = re.findall(r'name: "((?:[^"\\]|\\.)*)"\s+data_type: (\w+)\s+dims: \[ ([\d, ]*) \]', block)
        return [(n.encode().decode("unicode_escape"), t, [int(d) for d in dims.split(",") if d.strip()]) for n, t, dims in found]

    return name, platform, batch, tensors("input"), tensors("output")


@pytest.mark.parametrize("name", ALL_MODELS)
def test_manifest_and_configs_describe_the_served_models(exported, name):
    repo, _, manifest = exported
    assert manifest["format"] == "tandem-export/1"
    entry = next(m for m in manifest["models"] if m["name"] == name)
    assert entry["model_hash"] == hashlib.sha256((MODELS / f"{name}.onnx").read_bytes()).hexdigest()
    cuts = [c["cut"] for c in entry["cuts"]]
    if cut_spec(name) == "all":
        assert cuts == list(range(entry["cut_count"] - 1))
    else:
        assert len(cuts) == 5 and cuts[0] == 0 and cuts[-1] == entry["cut_count"] - 2
    for c in entry["cuts"]:
        assert c["served_name"] == f"{name}_cut{c['cut']}"
        served = repo / c["served_name"]
        cfg_name, platform, batch, cfg_in, cfg_out = parse_config((served / "config.pbtxt").read_text())
        assert (cfg_name, platform, batch) == (c["served_name"], "onnxruntime_onnx", 0)
        sess = session(served / "1" / "model.onnx")
        onnx_in = [(i.name, NP_TO_TRITON[i.type], list(i.shape)) for i in sess.get_inputs()]
        onnx_out = [(o.name, NP_TO_TRITON[o.type], list(o.shape)) for o in sess.get_outputs()]
        assert cfg_in == onnx_in, f"{c['served_name']}: config inputs differ from the ONNX model's"
        assert cfg_out == onnx_out, f"{c['served_name']}: config outputs differ from the ONNX model's"
        assert [t["name"] for t in c["inputs"]] == [i[0] for i in onnx_in]
        assert [t["name"] for t in c["outputs"]] == [o[0] for o in onnx_out]


@pytest.mark.parametrize("name", ALL_MODELS)
def test_onnxruntime_reproduces_tandem_split_execution(exported, name):
    repo, vectors, manifest = exported
    entry = next(m for m in manifest["models"] if m["name"] == name)
    checked, failures = 0, []
    for c in entry["cuts"]:
        vdir = vectors / c["served_name"]
        index = json.loads((vdir / "vectors.json").read_text())
        feeds = {t["name"]: np.load(vdir / t["file"]) for t in index["inputs"]}
        expected = {t["name"]: np.load(vdir / t["file"]) for t in index["outputs"]}
        sess = session(repo / c["served_name"] / "1" / "model.onnx")
        names = [o.name for o in sess.get_outputs()]
        assert names == list(expected), f"{c['served_name']}: outputs {names} vs {list(expected)}"
        got = dict(zip(names, sess.run(names, feeds)))
        for out, want in expected.items():
            if got[out].shape != want.shape or got[out].dtype != want.dtype:
                failures.append(f"cut {c['cut']} `{out}`: {got[out].dtype}{got[out].shape} vs {want.dtype}{want.shape}")
                continue
            g, w = got[out].astype(np.float64), want.astype(np.float64)
            excess = np.abs(g - w) - (ATOL + RTOL * np.abs(w))
            if not np.all(excess <= 0):
                diff = float(np.max(np.abs(g - w)))
                failures.append(f"cut {c['cut']} `{out}`: max |onnxruntime - tandem| = {diff:.3e}")
        checked += 1
    assert checked == len(entry["cuts"]) > 0
    assert not failures, f"{name}: " + "; ".join(failures)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_exported_cut0_is_the_original_model(exported, name):
    """Export fidelity without engine differences: under ONNX Runtime, the exported part after
    cut 0 answers what the original model file answers."""
    repo, vectors, _ = exported
    vdir = vectors / f"{name}_cut0"
    index = json.loads((vdir / "vectors.json").read_text())
    feeds = {t["name"]: np.load(vdir / t["file"]) for t in index["inputs"]}
    original = session(MODELS / f"{name}.onnx").run(None, feeds)
    exported_part = session(repo / f"{name}_cut0" / "1" / "model.onnx").run(None, feeds)
    for a, b in zip(original, exported_part):
        assert a.shape == b.shape and np.max(np.abs(a - b), initial=0.0) <= 1e-6


def test_a_wrong_crossing_tensor_is_caught(exported):
    """The comparison is not vacuous: perturbing a crossing tensor changes the outputs."""
    repo, vectors, manifest = exported
    c = next(m for m in manifest["models"] if m["name"] == "tiny_resnet")["cuts"][5]
    vdir = vectors / c["served_name"]
    index = json.loads((vdir / "vectors.json").read_text())
    feeds = {t["name"]: np.load(vdir / t["file"]) + 0.05 for t in index["inputs"]}
    want = np.load(vdir / index["outputs"][0]["file"])
    got = session(repo / c["served_name"] / "1" / "model.onnx").run(None, feeds)[0]
    assert np.max(np.abs(got - want)) > ATOL
