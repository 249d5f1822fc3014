"""Trains the scenes-tiny VLM on scenes rendered on the fly.

Usage: /usr/bin/python3 scripts/scenes/train.py --minutes 45 --seed 1 --out build/scenes/ckpt.pt

The data stream is fixed by --seed (scene i of step s comes from seed (seed, s)), the
number of steps is fixed after timing the first steps so that the cosine schedule
completes within --minutes; the number of steps used is printed and saved in the
checkpoint so a run can be repeated exactly with --steps.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import (BOS, EOS, IMAGE, PAD, VOCAB, N_IMAGE, PROMPT_TEXT, caption,
                    encode_words)
from model import SceneVLM, Cfg, additive_mask
from render_torch import render_batch, to_model_input, labels, oracle_scores

PROMPT_IDS = encode_words(PROMPT_TEXT)


def choose_keep(rng, cov, b):
    """Per-sample visual-token keep sets (sorted index lists) for the dropout mix.

    35 % full; 25 % uniform random keep 15-100 %; 40 % object-biased: top-k by a
    noisy overlap score, keep 6-60 %. The object-biased share teaches the model to
    caption from the tokens that carry evidence, so that a good selector wins.
    """
    score = oracle_scores(cov).numpy()
    keeps = []
    for i in range(b):
        u = rng.random()
        if u < 0.35:
            keeps.append(np.arange(N_IMAGE))
            continue
        if u < 0.60:
            k = int(rng.integers(int(0.15 * N_IMAGE), N_IMAGE + 1))
            keeps.append(np.sort(rng.choice(N_IMAGE, size=k, replace=False)))
            continue
        k = int(rng.integers(4, int(0.60 * N_IMAGE) + 1))
        noise = rng.random(N_IMAGE) * float(rng.choice([0.0, 0.05, 0.2, 0.5]))
        order = np.argsort(-(score[i] + noise), kind="stable")
        keeps.append(np.sort(order[:k]))
    return keeps


def build_batch(rng, feats, scenes, keeps):
    """Packs [bos | kept image tokens | pad | prompt | caption eos] with original or
    renumbered position ids (50/50 per sample)."""
    b = len(scenes)
    caps = [encode_words(caption(s)) + [EOS] for s in scenes]
    lmax = max(len(c) for c in caps)
    P = len(PROMPT_IDS)
    T = 1 + N_IMAGE + P + lmax
    ids = torch.full((b, T), PAD, dtype=torch.int64)
    is_img = torch.zeros(b, T, dtype=torch.bool)
    img_src = torch.zeros(b, T, dtype=torch.int64)
    am = torch.zeros(b, T, dtype=torch.int64)
    pos = torch.zeros(b, T, dtype=torch.int64)
    tgt = torch.full((b, T), -100, dtype=torch.int64)
    for i in range(b):
        kp = keeps[i]
        k = len(kp)
        ids[i, 0] = BOS
        am[i, 0] = 1
        renumber = rng.random() < 0.5
        ids[i, 1:1 + k] = IMAGE
        is_img[i, 1:1 + k] = True
        img_src[i, 1:1 + k] = torch.from_numpy(kp)
        am[i, 1:1 + k] = 1
        if renumber:
            pos[i, 1:1 + k] = torch.arange(1, k + 1)
            nxt = k + 1
        else:
            pos[i, 1:1 + k] = torch.from_numpy(kp) + 1
            nxt = N_IMAGE + 1
        t0 = 1 + N_IMAGE
        seq = PROMPT_IDS + caps[i]
        ids[i, t0:t0 + len(seq)] = torch.tensor(seq)
        am[i, t0:t0 + len(seq)] = 1
        pos[i, t0:t0 + len(seq)] = torch.arange(nxt, nxt + len(seq))
        # position t predicts token t+1, from the last prompt token on
        for j in range(P - 1, len(seq) - 1):
            tgt[i, t0 + j] = seq[j + 1]
    return ids, is_img, img_src, am, pos, tgt


def forward_train(model, px, scenes, cov, keeps, rng):
    c = model.c
    patches, cls, _, _ = model.vision(px)
    feats = model.proj(patches)
    ids, is_img, img_src, am, pos, tgt = build_batch(rng, feats, scenes, keeps)
    x = model.embed(ids)
    b = x.shape[0]
    gathered = feats[torch.arange(b)[:, None], img_src]       # (B,T,D)
    x = torch.where(is_img[..., None], gathered, x)
    logits = model.decode(x, am, pos)
    lm = F.cross_entropy(logits.view(-1, c.vocab), tgt.view(-1), ignore_index=-100)
    cs, cc, cz, ts, tc, tz = labels(scenes, cov)
    co = model.cls_head(cls).view(b, 9, 13)
    aux_cls = (F.cross_entropy(co[..., :5].reshape(-1, 5), cs.view(-1))
               + F.cross_entropy(co[..., 5:11].reshape(-1, 6), cc.view(-1), ignore_index=-100)
               + F.cross_entropy(co[..., 11:].reshape(-1, 2), cz.view(-1), ignore_index=-100))
    to = model.tok_head(patches)
    aux_tok = (F.cross_entropy(to[..., :5].reshape(-1, 5), ts.view(-1))
               + F.cross_entropy(to[..., 5:12].reshape(-1, 7), tc.view(-1))
               + F.cross_entropy(to[..., 12:].reshape(-1, 3), tz.view(-1)))
    return lm, aux_cls, aux_tok


def batch_data(seed, step, bsz):
    rng = np.random.default_rng([seed, step])
    res = int(rng.choice([96, 96, 144, 192]))
    img, scenes, cov = render_batch(rng, bsz, res)
    px = to_model_input(img, rng)
    return rng, px, scenes, cov


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=45)
    ap.add_argument("--steps", type=int, default=0, help="fix the step count (repeat a run)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--out", default="build/scenes/ckpt.pt")
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    model = SceneVLM(Cfg())
    nparam = sum(p.numel() for n, p in model.named_parameters()
                 if not n.startswith(("cls_head", "tok_head")))
    print(f"parameters (exported): {nparam}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.02, betas=(0.9, 0.98))
    t0 = time.time()
    total = a.steps or 10 ** 9
    warm = 150
    step = 0
    hist = []
    while step < total:
        if not a.steps and step == 30:
            per = (time.time() - t0) / 30
            total = int(a.minutes * 60 / per)
            print(f"{per:.2f} s/step -> {total} steps", flush=True)
        frac = step / max(total, 1) if total < 10 ** 9 else 0.0
        lr = a.lr * min(1.0, (step + 1) / warm) * (0.5 * (1 + np.cos(np.pi * min(frac, 1.0))) * 0.95 + 0.05)
        for g in opt.param_groups:
            g["lr"] = lr
        rng, px, scenes, cov = batch_data(a.seed, step, a.batch)
        keeps = choose_keep(rng, cov, a.batch)
        model.train()
        lm, ac, at = forward_train(model, px, scenes, cov, keeps, rng)
        loss = lm + 0.5 * ac + 0.5 * at
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        hist.append((lm.item(), ac.item(), at.item()))
        step += 1
        if step % 50 == 0:
            m = np.mean(hist[-50:], 0)
            print(f"step {step}/{total} lr {lr:.2e} lm {m[0]:.4f} cls {m[1]:.4f} tok {m[2]:.4f} "
                  f"elapsed {time.time() - t0:.0f}s", flush=True)
        if step % 500 == 0 or step == total:
            torch.save({"model": model.state_dict(), "step": step, "steps": total,
                        "seed": a.seed, "batch": a.batch, "lr": a.lr,
                        "seconds": time.time() - t0, "params": nparam}, a.out)
    print(json.dumps({"steps": total, "seconds": round(time.time() - t0), "params": nparam}))


if __name__ == "__main__":
    main()
