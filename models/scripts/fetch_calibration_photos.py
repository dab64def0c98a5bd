#!/usr/bin/env python3
"""Collect the natural photographs used to calibrate the classifiers' sidecars (issue 16).

Nothing is committed and nothing is downloaded at run time: this script gathers the photos
once, from packages served by the registries this project uses, into OUT (default
/tmp/tandem-calib), split deterministically into OUT/calib (3 of every 4, by sorted name) and
OUT/heldout (the 4th), every photo downscaled (Lanczos) so its short side is 256 px and saved
as JPEG quality 92 without metadata.

Sources and licences (also in models/README.md, "Calibration inputs"):
  * Debian `plasma-workspace-wallpapers` 4:5.27.5-2: 11 photographs (GPL-2+, KDE VDG)
  * Debian `mate-backgrounds` 1.26.0-1, nature/: 12 photographs (GPL-2+ / CC-BY-SA-4.0)
  * PyPI sdist `opencv-python` 5.1.0.95, opencv/samples/data: the 29 photographs below
    (OpenCV's samples, Apache-2.0; lena is left out)
  * scikit-image's bundled data: 14 photographs (CC0 / public domain, see skimage/data/README)
  * PyPI sdist `face_recognition` 1.3.0 tests/test_images: 6 photographs (MIT; White House
    photos, public domain)

usage: python models/scripts/fetch_calibration_photos.py [--out /tmp/tandem-calib] [--work /tmp/tandem-calib-work]
needs: apt-get (Debian), pip and curl (PyPI), pillow, scikit-image
"""
import argparse
import glob
import io
import json
import os
import subprocess
import tarfile
import urllib.request

import numpy as np
from PIL import Image

PLASMA = ["BytheWater", "ColdRipple", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
          "Kite", "OneStandsOut", "Path", "Volna", "summer_1am"]
MATE_NATURE = ["Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird",
               "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower"]
OPENCV = ["HappyFish.jpg", "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg",
          "basketball1.png", "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg",
          "castle.jpg", "ela_original.jpg", "fruits.jpg", "gauge-1.jpg", "graf1.png", "home.jpg",
          "leuvenA.jpg", "licenseplate_motion.jpg", "mcc_ccm_test.jpg", "messi5.jpg",
          "orange.jpg", "pic1.png", "pic3.png", "rgbd-color.jpg", "rubberwhale1.png",
          "smarties.png", "squirrel_cls.jpg", "stuff.jpg"]
SKIMAGE = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
           "immunohistochemistry", "retina", "camera", "coins", "moon", "clock", "grass",
           "gravel", "brick"]
FACE_RECOGNITION = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg",
                    "obama_partial_face.jpg", "obama_partial_face2.jpg"]
SHORT_SIDE = 256
QUALITY = 92


def debian(work, package, pattern):
    d = os.path.join(work, package)
    if not os.path.isdir(d):
        os.makedirs(d, exist_ok=True)
        subprocess.run(["apt-get", "download", package], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = glob.glob(os.path.join(work, package + "_*.deb"))[0]
        subprocess.run(["dpkg-deb", "-x", deb, d], check=True)
    return d


def pypi_sdist(work, name, version):
    path = os.path.join(work, f"{name}-{version}.tar.gz")
    if not os.path.exists(path):
        meta = json.load(urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json"))
        url = next(u["url"] for u in meta["releases"][version] if u["packagetype"] == "sdist")
        if url.startswith("../"):
            url = "https://pypi.org/" + url.lstrip("./")
        subprocess.run(["curl", "-sfL", "-o", path, url], check=True)
    return tarfile.open(path)


def members(tar, suffixes):
    by_name = {}
    for m in tar.getmembers():
        for s in suffixes:
            if m.name.endswith("/" + s):
                by_name[s] = tar.extractfile(m).read()
    missing = [s for s in suffixes if s not in by_name]
    if missing:
        raise SystemExit(f"not found in {tar.name}: {missing}")
    return [(s, by_name[s]) for s in suffixes]


def save(img, out):
    img = img.convert("RGB")
    w, h = img.size
    k = SHORT_SIDE / min(w, h)
    if k < 1:
        img = img.resize((max(1, round(w * k)), max(1, round(h * k))), Image.LANCZOS)
    img.save(out, "JPEG", quality=QUALITY)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/tandem-calib")
    ap.add_argument("--work", default="/tmp/tandem-calib-work")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    photos = {}  # name -> PIL image

    d = debian(a.work, "plasma-workspace-wallpapers", None)
    for n in PLASMA:
        imgs = sorted(glob.glob(f"{d}/usr/share/wallpapers/{n}/contents/images/*.jpg"),
                      key=os.path.getsize)
        photos[f"plasma_{n}"] = Image.open(imgs[-1])
    d = debian(a.work, "mate-backgrounds", None)
    for n in MATE_NATURE:
        photos[f"mate_{n}"] = Image.open(f"{d}/usr/share/backgrounds/mate/nature/{n}.jpg")
    for s, data in members(pypi_sdist(a.work, "opencv-python", "5.1.0.95"),
                           ["samples/data/" + f for f in OPENCV]):
        photos["opencv_" + os.path.splitext(os.path.basename(s))[0]] = Image.open(io.BytesIO(data))
    import skimage.data
    for n in SKIMAGE:
        arr = np.asarray(getattr(skimage.data, n)())
        photos[f"skimage_{n}"] = Image.fromarray(arr)
    for s, data in members(pypi_sdist(a.work, "face_recognition", "1.3.0"),
                           ["tests/test_images/" + f for f in FACE_RECOGNITION]):
        photos["fr_" + os.path.splitext(os.path.basename(s))[0]] = Image.open(io.BytesIO(data))

    for sub in ("calib", "heldout"):
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
        for f in glob.glob(os.path.join(a.out, sub, "*.jpg")):
            os.remove(f)
    counts = {"calib": 0, "heldout": 0}
    for i, name in enumerate(sorted(photos)):
        sub = "heldout" if i % 4 == 3 else "calib"
        save(photos[name], os.path.join(a.out, sub, name + ".jpg"))
        counts[sub] += 1
    print(f"{len(photos)} photographs: {counts['calib']} in {a.out}/calib, "
          f"{counts['heldout']} in {a.out}/heldout")


if __name__ == "__main__":
    main()
