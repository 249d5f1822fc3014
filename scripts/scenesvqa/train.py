"""Trains the scenes-vqa VLM on scenes and frame sequences rendered on the fly.

Usage: /usr/bin/python3 scripts/scenesvqa/train.py --minutes 55 --seed 1 --out build/scenesvqa/ckpt.pt

Each step: 8 single-image scenes x 24 questions and 6 frame sequences (2-4 frames, the
same count for the whole step) x 16 questions; the questions of a sample share one decoder
row (one visual prefix, one visual-token dropout draw) and are masked from each other, so
each is answered as its own prompt. The data stream is fixed by --seed (step s draws from
numpy's generator seeded with (seed, s)); the step count is fixed after timing the first
30 steps so that the cosine schedule completes within --minutes, printed and saved in the
checkpoint. On a shared machine the speed changes during the run, so with --minutes the
step count is re-estimated every 50 steps from the recent speed and the time left (the
cosine schedule follows the current estimate); the learning rate of every step is saved
in the checkpoint ("lrs") and --replay CKPT repeats that exact schedule (same data, same
steps, same rates). --steps N runs a plain cosine schedule over N steps.
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
from common import (BOS, EOS, IMAGE, PAD, FRAME0, N_IMAGE, SINGLE_TYPES, SEQ_TYPES,
                    encode_words, sample_single, sample_sequence, sample_background)
from model import SceneVQA, Cfg
from render_torch import render_frames, to_model_input, token_labels

N_SINGLE, Q_SINGLE = 8, 24
N_SEQ, Q_SEQ = 6, 16


def keep_set(rng, nf, allcov, relcov, train=True):
    """Visual-token dropout for one question row, over all its frames' tokens.

    allcov, relcov: (nf*64,) overlap of each token with any object / with the objects
    the question is about. 40 % keep all; 15 % a uniformly random 10-100 %; 17 % the
    top 6-60 % by noisy object overlap; 28 % the top 4-50 % by noisy question
    relevance. Returns sorted kept indices."""
    N = nf * N_IMAGE
    if not train:
        return np.arange(N)
    u = rng.random()
    if u < 0.40:
        return np.arange(N)
    if u < 0.55:
        k = int(rng.integers(max(2, int(0.10 * N)), N + 1))
        return np.sort(rng.choice(N, size=k, replace=False))
    if u < 0.72:
        k = int(rng.integers(max(2, int(0.06 * N)), int(0.60 * N) + 1))
        score = allcov + rng.random(N) * float(rng.choice([0.0, 0.05, 0.2, 0.5]))
    else:
        k = int(rng.integers(max(2, int(0.04 * N)), int(0.50 * N) + 1))
        score = (relcov + allcov * float(rng.choice([0.0, 0.1, 0.3]))
                 + rng.random(N) * float(rng.choice([0.0, 0.05, 0.2])))
    order = np.argsort(-score, kind="stable")
    return np.sort(order[:k])


def make_rows(rng, samples, cov, img_base, train):
    """samples: list of (frames, questions). cov: (n_images, K, 64) torch.

    One decoder row per sample: [bos | frame markers + kept visual tokens | q1 a1 eos |
    q2 a2 eos | ...]. Each question segment attends to the visual prefix and to itself
    only (seg ids drive the mask) and starts at the same position id, so the row is K
    independent prompts sharing the visual prefix's computation. One dropout keep set
    per row; its question-relevant mode uses the union of the row's questions."""
    rows = []
    for (frames, qs), base in zip(samples, img_base):
        nf = len(frames)
        allcov = np.concatenate([cov[base + f].sum(0).numpy() for f in range(nf)])
        relcov = np.zeros(nf * N_IMAGE, dtype=np.float32)
        for q in qs:
            for f, fr in enumerate(frames):
                ids = set(q["relevant"][f])
                for k, o in enumerate(fr):
                    if id(o) in ids:
                        relcov[f * N_IMAGE:(f + 1) * N_IMAGE] += cov[base + f, k].numpy()
        kept = keep_set(rng, nf, allcov, np.minimum(relcov, 1.0), train)
        ids, src, pos = [BOS], [-1], [0]
        for f in range(nf):
            p0 = 1 + f * (N_IMAGE + 1)
            ids.append(FRAME0 + f); src.append(-1); pos.append(p0)
            kf = kept[(kept >= f * N_IMAGE) & (kept < (f + 1) * N_IMAGE)]
            for t in kf:
                ids.append(IMAGE); src.append(base * N_IMAGE + int(t)); pos.append(p0 + 1 + int(t) - f * N_IMAGE)
        n0 = len(ids)
        if train and rng.random() < 0.5:
            pos = list(range(n0))  # renumbered positions
            nxt = n0
        else:
            nxt = 1 + nf * (N_IMAGE + 1)
        seg = [0] * n0
        tgt = [-100] * n0
        spans = []
        for j, q in enumerate(qs):
            qi = encode_words(q["question"])
            ai = encode_words(q["answer"]) + [EOS]
            s0 = len(ids)
            ids += qi + ai
            src += [-1] * (len(qi) + len(ai))
            pos += list(range(nxt, nxt + len(qi) + len(ai)))
            seg += [j + 1] * (len(qi) + len(ai))
            tgt += [-100] * (len(qi) + len(ai))
            st = s0 + len(qi) - 1
            for k, a in enumerate(ai):
                tgt[st + k] = a
            spans.append((q["type"], st, st + len(ai)))
        rows.append(dict(ids=ids, src=src, pos=pos, tgt=tgt, seg=seg, spans=spans))
    return rows


def decode_rows(model, feats, rows):
    b = len(rows)
    T = max(len(r["ids"]) for r in rows)
    ids = torch.full((b, T), PAD, dtype=torch.int64)
    src = torch.zeros(b, T, dtype=torch.int64)
    isimg = torch.zeros(b, T, dtype=torch.bool)
    seg = torch.full((b, T), -1, dtype=torch.int64)
    pos = torch.zeros(b, T, dtype=torch.int64)
    tgt = torch.full((b, T), -100, dtype=torch.int64)
    for i, r in enumerate(rows):
        n = len(r["ids"])
        ids[i, :n] = torch.tensor(r["ids"])
        s = torch.tensor(r["src"])
        isimg[i, :n] = s >= 0
        src[i, :n] = s.clamp(min=0)
        seg[i, :n] = torch.tensor(r["seg"])
        pos[i, :n] = torch.tensor(r["pos"])
        tgt[i, :n] = torch.tensor(r["tgt"])
    x = model.model.embed_tokens(ids)
    flat = feats.reshape(-1, feats.shape[-1])
    x = torch.where(isimg[..., None], flat[src], x)
    qi = torch.arange(T)[:, None]
    kj = torch.arange(T)[None, :]
    sq, sk = seg[:, :, None], seg[:, None, :]
    allowed = (kj <= qi)[None] & (sk >= 0) & ((sk == 0) | (sk == sq))
    allowed = allowed | torch.eye(T, dtype=torch.bool)[None]  # padding rows attend to themselves
    mask = torch.where(allowed, torch.zeros(()), torch.full((), -1e9))[:, None]
    h = x
    for layer in model.model.layers:
        h, _, _ = layer(h, mask, pos)
    logits = model.lm_head(model.model.norm(h))
    return logits, tgt


def make_step_data(seed, step, train=True, n_single=N_SINGLE, n_seq=N_SEQ):
    rng = np.random.default_rng([seed, step])
    nf = int(rng.integers(2, 5))
    samples = [sample_single(rng, Q_SINGLE) for _ in range(n_single)]
    seqs = [sample_sequence(rng, Q_SEQ, nf) for _ in range(n_seq)]
    frames, bgs, base = [], [], []
    for fr, _ in samples + seqs:
        base.append(len(frames))
        bg = sample_background(rng)
        frames += fr
        bgs += [bg] * len(fr)
    res = int(rng.choice([96, 144])) if train else 96
    img, cov = render_frames(rng, frames, bgs, res)
    px = to_model_input(img, rng)
    r1 = make_rows(rng, samples, cov, base[:n_single], train)
    r2 = make_rows(rng, seqs, cov, base[n_single:], train)
    return px, frames, cov, r1, r2


def forward(model, px, frames, cov, r1, r2):
    c = model.c
    patches, _, _, _ = model.vision(px)
    feats = model.project(patches)
    out = []
    for rows in (r1, r2):
        logits, tgt = decode_rows(model, feats, rows)
        out.append((logits, tgt))
    ts, tc, tz = token_labels(frames, cov)
    to = model.tok_head(patches)
    aux = (F.cross_entropy(to[..., :5].reshape(-1, 5), ts.view(-1))
           + F.cross_entropy(to[..., 5:12].reshape(-1, 7), tc.view(-1))
           + F.cross_entropy(to[..., 12:].reshape(-1, 3), tz.view(-1)))
    return out, aux


def evaluate(model, seed=999, batches=4):
    """Teacher-forced argmax exact match (= greedy exact match) per question type."""
    model.eval()
    hit, tot = {}, {}
    with torch.no_grad():
        for s in range(batches):
            px, frames, cov, r1, r2 = make_step_data(seed, s, train=False)
            out, _ = forward(model, px, frames, cov, r1, r2)
            for (logits, tgt), rows in zip(out, (r1, r2)):
                good = (logits.argmax(-1) == tgt) | (tgt == -100)
                for i, r in enumerate(rows):
                    for t, a, b in r["spans"]:
                        o = bool(good[i, a:b].all())
                        hit[t] = hit.get(t, 0) + int(o)
                        tot[t] = tot.get(t, 0) + 1
    model.train()
    acc = {t: hit[t] / tot[t] for t in tot}
    s_all = sum(hit[t] for t in SINGLE_TYPES if t in hit) / max(1, sum(tot[t] for t in SINGLE_TYPES if t in tot))
    q_all = sum(hit[t] for t in SEQ_TYPES if t in hit) / max(1, sum(tot[t] for t in SEQ_TYPES if t in tot))
    return s_all, q_all, acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=55)
    ap.add_argument("--steps", type=int, default=0, help="fix the step count (repeat a run)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--out", default="build/scenesvqa/ckpt.pt")
    ap.add_argument("--replay", default="", help="repeat the learning-rate trace of this checkpoint")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    model = SceneVQA(Cfg())
    nparam = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("tok_head"))
    print(f"parameters (exported): {nparam}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.02, betas=(0.9, 0.98))
    t0 = time.time()
    total = a.steps or 10 ** 9
    warm = 100
    step = 0
    hist = []
    curve = []
    lrs = []
    replay = torch.load(a.replay, map_location="cpu")["lrs"] if a.replay else None
    if replay:
        total = len(replay)
    budget = a.minutes * 60
    mark = (0, 0.0)
    while step < total:
        now = time.time() - t0
        if not a.steps and not replay and (step == 30 or (step > 30 and step % 50 == 0)):
            per = (now - mark[1]) / (step - mark[0]) if mark[0] else now / step
            total = max(step + 50, int(step + (budget - now) / per))
            mark = (step, now)
            print(f"{per:.2f} s/step over the last steps -> {total} steps", flush=True)
        frac = step / max(total, 1) if total < 10 ** 9 else 0.0
        lr = a.lr * min(1.0, (step + 1) / warm) * (0.5 * (1 + np.cos(np.pi * min(frac, 1.0))) * 0.95 + 0.05)
        if replay:
            lr = replay[step]
        lrs.append(lr)
        for g in opt.param_groups:
            g["lr"] = lr
        px, frames, cov, r1, r2 = make_step_data(a.seed, step)
        model.train()
        out, aux = forward(model, px, frames, cov, r1, r2)
        l1 = F.cross_entropy(out[0][0].reshape(-1, model.c.vocab), out[0][1].view(-1), ignore_index=-100)
        l2 = F.cross_entropy(out[1][0].reshape(-1, model.c.vocab), out[1][1].view(-1), ignore_index=-100)
        loss = l1 + l2 + 0.5 * aux
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        hist.append((l1.item(), l2.item(), aux.item()))
        step += 1
        if step % 25 == 0:
            m = np.mean(hist[-25:], 0)
            print(f"step {step}/{total} lr {lr:.2e} single {m[0]:.4f} seq {m[1]:.4f} tok {m[2]:.4f} "
                  f"elapsed {time.time() - t0:.0f}s", flush=True)
        if step % a.eval_every == 0 or step == total:
            s_acc, q_acc, acc = evaluate(model)
            m = np.mean(hist[-25:], 0)
            curve.append(dict(step=step, seconds=round(time.time() - t0), single_loss=round(float(m[0]), 4),
                              seq_loss=round(float(m[1]), 4), single_acc=round(s_acc, 4), seq_acc=round(q_acc, 4)))
            print(f"EVAL step {step} single {s_acc:.3f} seq {q_acc:.3f} "
                  + " ".join(f"{t}={v:.2f}" for t, v in sorted(acc.items())), flush=True)
            torch.save({"model": model.state_dict(), "step": step, "steps": total,
                        "seed": a.seed, "lr": a.lr, "seconds": time.time() - t0,
                        "params": nparam, "curve": curve, "lrs": lrs}, a.out)
    print(json.dumps({"steps": total, "seconds": round(time.time() - t0), "params": nparam}))


if __name__ == "__main__":
    main()
