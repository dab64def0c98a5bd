#!/usr/bin/env python3
"""Serve a `tandem export` repository with KServe's Python model server and ONNX Runtime.

Every `REPO/NAME_cutK/1/model.onnx` listed in `REPO/tandem-manifest.json` becomes a KServe
model `NAME_cutK` answering Open Inference Protocol (v2) requests: the part after cut K,
reading the tensors crossing the cut by their ONNX names. Nothing here knows about Tandem's
extensions: it is the plain OIP server a phone reaches with `Session::builder(...).plain_edge(...)`.

Usage:
    python deploy/kserve/tandem_kserve.py --repository REPO --http_port 8080 [--threads 1]

Any other KServe model-server flag works too (`--workers`, `--enable_grpc false`, ...).
"""
import argparse
import json
import logging
import os
import sys

import kserve
import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse
from kserve.errors import InvalidInput
from kserve.utils.numpy_codec import from_np_dtype

MANIFEST = "tandem-manifest.json"

logger = logging.getLogger("tandem_kserve")


class ExportedPart(kserve.Model):
    """The part after one cut, run by ONNX Runtime on the CPU."""

    def __init__(self, name: str, path: str, threads: int, cut: dict):
        super().__init__(name)
        self.path = path
        self.threads = threads
        self.cut = cut
        self.session = None
        self.load()

    def get_input_types(self):
        return [{"name": t["name"], "datatype": t["dtype"], "shape": t["shape"]} for t in self.cut["inputs"]]

    def get_output_types(self):
        return [{"name": t["name"], "datatype": t["dtype"], "shape": t["shape"]} for t in self.cut["outputs"]]

    def load(self) -> bool:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.ready = True
        return self.ready

    async def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        given = {i.name for i in payload.inputs}
        if given != set(self.inputs):
            raise InvalidInput(
                f"model {self.name} reads the tensors {sorted(self.inputs)}, the request has {sorted(given)}"
            )
        feeds = {i.name: i.as_numpy() for i in payload.inputs}
        requested = [o.name for o in payload.request_outputs] if payload.request_outputs else None
        unknown = [n for n in requested or [] if n not in self.outputs]
        if unknown:
            raise InvalidInput(f"model {self.name} has no output(s) {unknown}; it makes {self.outputs}")
        names = requested or self.outputs
        try:
            results = self.session.run(names, feeds)
        except Exception as e:  # onnxruntime raises its own exception types
            raise InvalidInput(f"model {self.name}: {e}") from e
        outputs = [
            InferOutput(name=n, shape=list(a.shape), datatype=from_np_dtype(a.dtype), data=np.ascontiguousarray(a))
            for n, a in zip(names, results)
        ]
        return InferResponse(
            response_id=payload.id,
            model_name=self.name,
            infer_outputs=outputs,
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )


def load_repository(repository: str, threads: int):
    """One ExportedPart per served model the manifest lists."""
    with open(os.path.join(repository, MANIFEST)) as f:
        manifest = json.load(f)
    if manifest.get("format") != "tandem-export/1":
        raise SystemExit(f"{repository}/{MANIFEST}: not a Tandem export manifest")
    models = []
    for entry in manifest["models"]:
        for cut in entry["cuts"]:
            path = os.path.join(repository, cut["served_name"], "1", "model.onnx")
            models.append(ExportedPart(cut["served_name"], path, threads, cut))
    if not models:
        raise SystemExit(f"{repository}: the manifest lists no exported cut")
    return models


def main(argv=None):
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser], description=__doc__.split("\n")[1])
    parser.add_argument("--repository", required=True, help="a `tandem export` output directory")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per run")
    args, _ = parser.parse_known_args(argv)
    models = load_repository(args.repository, args.threads)
    logger.info("serving %d exported parts from %s", len(models), args.repository)
    kserve.ModelServer(http_port=args.http_port, enable_grpc=False, workers=1).start(models)


if __name__ == "__main__":
    sys.exit(main())
