#!/usr/bin/env python3
"""Collect the test/demo photos into models/photos/.

Sources (see models/README.md for licences):
  * PyPI sdist face_recognition==1.3.0 (MIT), tests/test_images/*.jpg
    (White House photos of Barack Obama and Joe Biden)
  * scikit-image's bundled data: astronaut.png (Eileen Collins, NASA, public domain),
    rocket.jpg (SpaceX, public domain) as the no-face image
  * two_faces.jpg: made here, side by side composite of obama.jpg and biden.jpg

To keep the folder small (models/ must stay under 40 MB), the two full-length
portraits (biden.jpg, obama3.jpg) are cut from the top to a height of 1.2 x width (this
only removes suit and legs below the face), then every photo is downscaled (Lanczos) so the long side is <= 720 px, and re-encoded as
JPEG quality 85 without EXIF.

usage: python models/scripts/fetch_photos.py [--work /tmp/frsdist]
needs: pip (to download the sdist), pillow, scikit-image
"""
import argparse
import glob
import os
import subprocess
import sys
import tarfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTOS = os.path.normpath(os.path.join(HERE, "..", "photos"))
MAX_SIDE = 720
QUALITY = 85
MAX_ASPECT = 1.2  # height / width

FR_IMAGES = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg",
             "obama_partial_face.jpg", "obama_partial_face2.jpg"]
CUT_TO_ASPECT = {"obama3.jpg", "biden.jpg"}


def fetch_face_recognition(work):
    os.makedirs(work, exist_ok=True)
    sdist = os.path.join(work, "face_recognition-1.3.0.tar.gz")
    if not os.path.exists(sdist):
        subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                               ":all:", "face_recognition==1.3.0", "-d", work])
    with tarfile.open(sdist) as t:
        t.extractall(work, filter="data")
    return os.path.join(work, "face_recognition-1.3.0", "tests", "test_images")


def shrink(im, cut=False):
    im = im.convert("RGB")
    w, h = im.size
    if cut and h > MAX_ASPECT * w:
        h = round(MAX_ASPECT * w)
        im = im.crop((0, 0, w, h))
    s = MAX_SIDE / max(w, h)
    if s < 1:
        im = im.resize((round(w * s), round(h * s)), Image.LANCZOS)
    return im


def save(im, name):
    path = os.path.join(PHOTOS, name)
    im.save(path, "JPEG", quality=QUALITY, optimize=True)
    print(f"{name}: {im.size[0]}x{im.size[1]}, {os.path.getsize(path)} bytes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/frsdist")
    args = ap.parse_args()
    os.makedirs(PHOTOS, exist_ok=True)
    for old in glob.glob(os.path.join(PHOTOS, "*")):
        os.remove(old)

    src = fetch_face_recognition(args.work)
    for name in FR_IMAGES:
        save(shrink(Image.open(os.path.join(src, name)), cut=name in CUT_TO_ASPECT), name)

    import skimage.data
    skdir = os.path.dirname(skimage.data.__file__)
    save(shrink(Image.open(os.path.join(skdir, "astronaut.png"))), "astronaut.jpg")
    save(shrink(Image.open(os.path.join(skdir, "rocket.jpg"))), "rocket_noface.jpg")

    # two-face composite: upper parts of obama.jpg and biden.jpg, each 600 px high
    parts = []
    for name, top_frac in (("obama.jpg", 0.0), ("biden.jpg", 0.05)):
        im = Image.open(os.path.join(src, name)).convert("RGB")
        w, h = im.size
        crop_h = min(h, int(w * 1.1))
        y0 = int(h * top_frac)
        im = im.crop((0, y0, w, y0 + crop_h))
        parts.append(im.resize((round(600 * im.size[0] / im.size[1]), 600), Image.LANCZOS))
    canvas = Image.new("RGB", (sum(p.size[0] for p in parts), 600))
    x = 0
    for p in parts:
        canvas.paste(p, (x, 0))
        x += p.size[0]
    save(canvas, "two_faces.jpg")

    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(PHOTOS, "*")))
    print(f"total {total} bytes")
    assert total < 2_000_000


if __name__ == "__main__":
    main()
