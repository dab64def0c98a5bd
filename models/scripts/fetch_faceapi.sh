#!/usr/bin/env bash
# Fetch and extract the npm package @vladmandic/face-api@1.7.15 (MIT) that ships
# the TF.js weights of dlib's face-recognition ResNet (model/face_recognition_model*).
# Usage: models/scripts/fetch_faceapi.sh [WORKDIR]   (default /tmp/npmwork)
# Result: WORKDIR/faceapi/package/{model,src,dist}
set -euo pipefail
WORK="${1:-/tmp/npmwork}"
mkdir -p "$WORK"
cd "$WORK"
if [ ! -f vladmandic-face-api-1.7.15.tgz ]; then
  npm pack @vladmandic/face-api@1.7.15 >/dev/null
fi
rm -rf faceapi && mkdir faceapi
tar xzf vladmandic-face-api-1.7.15.tgz -C faceapi
echo "$WORK/faceapi/package"
