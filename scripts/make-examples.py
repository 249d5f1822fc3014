#!/usr/bin/python3
"""Writes examples/: scenes from the Go generator (seed 3000, indices 0-4) in
several formats and sizes, one JPEG stored rotated with an EXIF orientation
tag, and examples/labels.json with the ground-truth captions.

Usage (from the repo root): /usr/bin/python3 scripts/make-examples.py
Needs Debian's python3-pil (with WebP support) and Go.
"""
import json
import os
import subprocess
import tempfile

from PIL import Image

SEED = 3000
# index -> (file name, size, format)
PLAN = {
    0: ("scene-0.png", 300, "png"),
    1: ("scene-1.jpg", 480, "jpeg"),
    2: ("scene-2.webp", 200, "webp"),
    3: ("scene-3-exif-rotated.jpg", 360, "exif"),
    4: ("scene-4-small.png", 96, "png"),
}


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "examples")
    os.makedirs(out, exist_ok=True)
    labels = {}
    with tempfile.TemporaryDirectory() as tmp:
        for idx, (name, size, fmt) in PLAN.items():
            d = os.path.join(tmp, str(idx))
            subprocess.run(["go", "run", "./scenes/cmd/gen-scenes", "--seed", str(SEED), "--start",
                            str(idx), "--count", "1", "--size", str(size), "--out", d, "-q"],
                           cwd=root, check=True)
            with open(os.path.join(d, "labels.jsonl")) as f:
                rec = json.loads(f.readline())
            img = Image.open(os.path.join(d, rec["file"])).convert("RGB")
            path = os.path.join(out, name)
            if fmt == "png":
                img.save(path)
            elif fmt == "jpeg":
                img.save(path, quality=90)
            elif fmt == "webp":
                img.save(path, quality=90)
            elif fmt == "exif":
                # Orientation 6: the viewer must rotate the stored pixels 90° clockwise,
                # so store the upright image rotated 90° counter-clockwise.
                exif = Image.Exif()
                exif[0x0112] = 6
                img.rotate(90, expand=True).save(path, quality=92, exif=exif.tobytes())
            labels[name] = rec["caption"]
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump(labels, f, indent=2, sort_keys=True)
        f.write("\n")
    print("wrote", len(labels), "examples to", out)


if __name__ == "__main__":
    main()
