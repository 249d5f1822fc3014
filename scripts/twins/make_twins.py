#!/usr/bin/python3
"""Generates vlmrun's tiny random-weight "twin" model folders.

Usage: scripts/twins/make_twins.py [OUT_DIR]   (default: models/smolvlm/testdata)

Writes OUT_DIR/smolvlm-twin (model_type idefics3, the current decoder
signature, 64 px longest edge so images are split into 32 px tiles plus the
global image; fp32 and fp16 files) and OUT_DIR/smolvlm-twin-legacy
(model_type smolvlm, a decoder with use_cache_branch and num_logits_to_keep,
32 px longest edge so images are never split), and the Florence-2 twin
(model_type florence2, encoder-decoder, 32×32 images) in
models/florence2/testdata/florence2-twin (OUT_DIR/florence2-twin when
OUT_DIR is given). Also OUT_DIR/smolvlm-twin-torch and
OUT_DIR/smolvlm-twin-torch-legacy, whose decoders are exported by
torch.onnx.export from a Llama module tree named like transformers'
(smolvlm_torch.py: fp32, fp16, q8 and q4 merged decoders; the optimum
legacy If merge). Deterministic: the same numpy, onnx and torch versions
give the same bytes. Needs python3-onnx (1.12 is enough), python3-numpy and
python3-torch (Debian's 1.13): run it with /usr/bin/python3.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import florence2  # noqa: E402
import smolvlm  # noqa: E402
import smolvlm_torch  # noqa: E402


def main():
    if len(sys.argv) > 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) == 2 else os.path.join(here, "..", "..", "models", "smolvlm", "testdata")
    smolvlm.make(os.path.join(out, "smolvlm-twin"), seed=1)
    smolvlm.make(os.path.join(out, "smolvlm-twin-legacy"), seed=5, model_type="smolvlm", size_edge=32,
                 legacy=True, dtypes=("fp32",))
    smolvlm_torch.make(os.path.join(out, "smolvlm-twin-torch"), seed=21)
    smolvlm_torch.make(os.path.join(out, "smolvlm-twin-torch-legacy"), seed=25, legacy=True)
    fl = sys.argv[1] if len(sys.argv) == 2 else os.path.join(here, "..", "..", "models", "florence2", "testdata")
    florence2.make(os.path.join(fl, "florence2-twin"), seed=11)


if __name__ == "__main__":
    main()
