#!/usr/bin/env python3
"""Makes pillow_resize.json: Pillow's bilinear resize of synthetic images, to check that
the Rust port in faceid/src/frame.rs is bit-exact (Pillow 13.0.0, numpy 2.4.6).

Each case: a W x H RGB image with pixel (x, y, c) = (7x + 13y + 50c + (x*y mod 31)) mod 256,
pasted at (pad_x, pad_y) on a black canvas_w x canvas_h canvas (as the detector's letterbox
does), resized to out_w x out_h with Image.BILINEAR; `expected` is the output's RGB bytes
in hex, row-major.

usage: /opt/tandem-venv/bin/python faceid/tests/data/make_pillow_resize.py
"""
import json
import os

import numpy as np
from PIL import Image

CASES = [  # w, h, canvas_w, canvas_h, pad_x, pad_y, out_w, out_h
    (300, 200, 300, 200, 0, 0, 37, 23),
    (13, 9, 13, 9, 0, 0, 40, 31),
    (150, 100, 150, 150, 0, 25, 32, 32),
    (400, 500, 500, 500, 50, 0, 48, 48),
]


def synthetic(w, h):
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((7 * x + 13 * y + 50 * c + (x * y) % 31) % 256).astype(np.uint8)


def main():
    out = []
    for w, h, cw, ch, px, py, ow, oh in CASES:
        canvas = np.zeros((ch, cw, 3), np.uint8)
        canvas[py:py + h, px:px + w] = synthetic(w, h)
        small = np.asarray(Image.fromarray(canvas).resize((ow, oh), Image.BILINEAR))
        out.append({"w": w, "h": h, "canvas_w": cw, "canvas_h": ch, "pad_x": px, "pad_y": py,
                    "out_w": ow, "out_h": oh, "expected": small.tobytes().hex()})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pillow_resize.json")
    with open(path, "w") as f:
        json.dump({"pillow": Image.__version__ if hasattr(Image, "__version__") else "", "cases": out}, f)


if __name__ == "__main__":
    main()
