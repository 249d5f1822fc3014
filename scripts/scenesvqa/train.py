"""Trains the scenes-vqa VLM on scenes and frame sequences rendered on the fly.

Usage (the committed model; scripts/scenesvqa/train.sh runs exactly this):
  train.py --vision-steps 1000 --replay scripts/scenesvqa/lrs-phase2.json --seed 1 --out build/scenesvqa/p2.pt
  train.py --resume build/scenesvqa/p2.pt --refined --replay scripts/scenesvqa/lrs-phase3.json \
           --step-offset 100000 --seed 1 --out build/scenesvqa/ckpt.pt
(with --minutes M instead of --replay, a phase sizes its own cosine schedule to M minutes).

Phase 1 (--vision-steps): the vision tower and the projector's attribute head alone, on
the dense per-token loss (each token's object shape / colour / size, or none, and whether
it holds an object's centre).
Phase 2: everything. Each step: 8 single-image scenes x 24 questions and 6 frame sequences
(2-4 frames, one count per step) x 16 questions; the questions of a sample share one
decoder row (one visual prefix, one visual-token dropout draw) and are masked from each
other, so each is answered as its own prompt. Losses: answer cross-entropy, the dense
per-token loss, and attention supervision of a few decoder heads (not all): at layer 0,
heads 0-1 look from the answer position at the question's key words and, from a visual
token of a later frame, at the same grid place in the previous frame; heads 2-3 look from
a colour / shape / cell word at the objects it names; at layers 1 and 2, heads 0-1 look
from the answer position at the tokens of the objects the question is about (counting
questions: each object's centre token plus <s>; nothing relevant: <s>). Without these
targets the decoder stayed at the answer priors for 1,350 steps (see the model card).
Phase 3 (--resume, --refined): the same with per-layer targets for the two-step
questions (left_of, colour_next): the named object at layer 1, its neighbour at layer 2.

The data stream is fixed by --seed (step s draws from numpy's generator seeded with
(seed, step-offset + s)). With --minutes the step count is re-estimated every 50 steps
from the recent speed and the time left (the cosine schedule follows the estimate); the
learning rate of every step is saved in the checkpoint ("lrs"), and --replay (a checkpoint
or a JSON list) repeats that exact schedule. --steps N runs a plain cosine over N steps.
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
from common import (VOCAB, COLOUR_NAMES, SHAPES, PLURALS, CELL_NAMES, BOS, EOS, IMAGE, PAD, FRAME0, N_IMAGE, SINGLE_TYPES, SEQ_TYPES,
                    encode_words, sample_single, sample_sequence, sample_background)
from model import SceneVQA, Cfg
from render_torch import render_frames, to_model_input, token_labels, centre_labels, centre_token

N_SINGLE, Q_SINGLE = 8, 24
N_SEQ, Q_SEQ = 6, 16
SUP_LAYERS, SUP_HEADS = (1, 2), [0, 1]  # heads supervised to look at the relevant visual tokens
# --refined (phase 3): two-step questions (left_of, colour_next) get a target per
# layer - the named object at SUP_LAYERS[0], its neighbour (or <s>) at SUP_LAYERS[1]
REFINED = False
ROUTE_LAYER, ROUTE_HEADS = 0, [0, 1]  # heads supervised to look at the question's key words
WORD_LAYER, WORD_HEADS = 0, [2, 3]  # heads supervised to look, from a word, at what it names
WORD_OF = {VOCAB[w]: w for w in COLOUR_NAMES + SHAPES + CELL_NAMES}
WORD_OF.update({VOCAB[p]: s for s, p in PLURALS.items()})
KEY_IDS = {VOCAB[w] for w in COLOUR_NAMES + SHAPES + list(PLURALS.values()) + CELL_NAMES
           + ["left", "above", "below", "moved", "appeared", "disappeared", "last"]}


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


def attention_target(q, frames, cov, base, col, only=None):
    """Where the supervised heads should look when answering q: {column: weight}.

    Each relevant object (in each frame it is relevant in) gets mass 1, spread over
    its kept tokens by coverage; counting questions add mass 1 on <s> (so the share
    left on <s> encodes the count), and a question with no kept relevant token puts
    all its mass on <s>."""
    w = {}
    counting = q["type"] in ("count", "count_last")
    for f, fr in enumerate(frames):
        ids = set(q["relevant"][f])
        if only is not None:
            ids &= only
        for k, o in enumerate(fr):
            if id(o) not in ids:
                continue
            j = col.get(f * N_IMAGE + centre_token(o))
            if counting and j is not None:
                w[j] = w.get(j, 0.0) + 1.0
                continue
            c = cov[base + f, k].numpy()
            tot = sum(float(c[t]) for t in range(N_IMAGE) if f * N_IMAGE + t in col)
            if tot <= 0:
                continue
            for t in range(N_IMAGE):
                j = col.get(f * N_IMAGE + t)
                if j is not None and c[t] > 0:
                    w[j] = w.get(j, 0.0) + float(c[t]) / tot
    if not w or counting:
        w[0] = w.get(0, 0.0) + 1.0
    z = sum(w.values())
    return {j: v / z for j, v in w.items()}


def word_target(word, frames, cov, base, col):
    """From a colour, shape or cell word of a question, the objects it names (in every
    frame): {column: weight}, mass 1 per object spread by coverage; {} if none."""
    if word is None:
        return {}
    w = {}
    for f, fr in enumerate(frames):
        for k, o in enumerate(fr):
            if word not in (o["colour"], o["shape"], CELL_NAMES[o["cell"]]):
                continue
            c = cov[base + f, k].numpy()
            for t in np.nonzero(c)[0]:
                j = col.get(f * N_IMAGE + int(t))
                if j is not None:
                    w[j] = w.get(j, 0.0) + float(c[t])
    z = sum(w.values())
    return {j: v / z for j, v in w.items()} if z > 0 else {}


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
        col = {}  # frame-token index (f*64+t) -> column in the row
        for f in range(nf):
            p0 = 1 + f * (N_IMAGE + 1)
            ids.append(FRAME0 + f); src.append(-1); pos.append(p0)
            kf = kept[(kept >= f * N_IMAGE) & (kept < (f + 1) * N_IMAGE)]
            for t in kf:
                col[int(t)] = len(ids)
                ids.append(IMAGE); src.append(base * N_IMAGE + int(t)); pos.append(p0 + 1 + int(t) - f * N_IMAGE)
        n0 = len(ids)
        # frames after the first: each visual token's routing heads look at the token of
        # the same grid place in the previous frame (if kept), where changes show
        same = [(col[t], col[t] + 1, {col[t - N_IMAGE]: 1.0})
                for t in col if t >= N_IMAGE and t - N_IMAGE in col]
        if train and rng.random() < 0.5:
            pos = list(range(n0))  # renumbered positions
            nxt = n0
        else:
            nxt = 1 + nf * (N_IMAGE + 1)
        seg = [0] * n0
        tgt = [-100] * n0
        spans, sup, sup2, route, words = [], [], [], list(same), []
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
            if REFINED and q["type"] in ("left_of", "colour_next"):
                rel = q["relevant"][0]  # [named object, neighbour if any]
                t1 = attention_target(q, frames, cov, base, col, only={rel[0]})
                t2 = attention_target(q, frames, cov, base, col, only=set(rel[1:]))
            else:
                t1 = t2 = attention_target(q, frames, cov, base, col)
            sup.append((st, st + len(ai), t1))
            sup2.append((st, st + len(ai), t2))
            kw = [s0 + k for k, t in enumerate(qi) if t in KEY_IDS]
            route.append((st, st + len(ai), {j: 1.0 / len(kw) for j in kw}))
            for k, t in enumerate(qi):
                w = word_target(WORD_OF.get(t), frames, cov, base, col)
                if w:
                    words.append((s0 + k, s0 + k + 1, w))
        rows.append(dict(ids=ids, src=src, pos=pos, tgt=tgt, seg=seg, spans=spans, sup=sup, sup2=sup2, route=route, words=words))
    return rows


def attention_targets(rows, key, T):
    """Dense (b,T,T) target distributions and the (b,T) rows they apply to."""
    b = len(rows)
    A = torch.zeros(b, T, T)
    on = torch.zeros(b, T, dtype=torch.bool)
    for i, r in enumerate(rows):
        for a, e, w in r[key]:
            if not w:
                continue
            on[i, a:e] = True
            cols = torch.tensor(list(w.keys()), dtype=torch.int64)
            vals = torch.tensor(list(w.values()), dtype=torch.float32)
            A[i, a:e, cols] = vals
    return A, on


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
    targets = {SUP_LAYERS[0]: (attention_targets(rows, "sup", T), SUP_HEADS),
               SUP_LAYERS[1]: (attention_targets(rows, "sup2", T), SUP_HEADS)}
    targets[ROUTE_LAYER] = [(attention_targets(rows, "route", T), ROUTE_HEADS),
                            (attention_targets(rows, "words", T), WORD_HEADS)]
    targets = {li: v if isinstance(v, list) else [v] for li, v in targets.items()}
    h = x
    att_loss = torch.zeros(())
    for li, layer in enumerate(model.model.layers):
        layer.self_attn.keep_att = li in targets
        h, _, _ = layer(h, mask, pos)
        layer.self_attn.keep_att = False
        for (A, on), heads in targets.get(li, []):
            att = layer.self_attn.last_att[:, heads]  # (b, H, T, T)
            ce = -(A[:, None] * torch.log(att + 1e-9)).sum(-1)  # (b, H, T)
            att_loss = att_loss + (ce * on[:, None]).sum() / (on.sum() * len(heads)).clamp(min=1)
        layer.self_attn.last_att = None
    logits = model.lm_head(model.model.norm(h))
    return logits, tgt, att_loss


def make_step_data(seed, step, train=True, n_single=N_SINGLE, n_seq=N_SEQ, rows=True):
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
    if not rows:
        return px, frames, cov, None, None
    r1 = make_rows(rng, samples, cov, base[:n_single], train)
    r2 = make_rows(rng, seqs, cov, base[n_single:], train)
    return px, frames, cov, r1, r2


def dense_loss(model, patches, frames, cov):
    """Per-token loss on the projector's attribute head: shape, colour, size of the
    object covering the token most (or none), and whether the token holds an object's
    centre."""
    ts, tc, tz = token_labels(frames, cov)
    a = model.attributes(patches)
    return (F.cross_entropy(a[..., :5].reshape(-1, 5), ts.view(-1))
            + F.cross_entropy(a[..., 5:12].reshape(-1, 7), tc.view(-1))
            + F.cross_entropy(a[..., 12:15].reshape(-1, 3), tz.view(-1))
            + F.binary_cross_entropy_with_logits(a[..., 15], centre_labels(frames)))


def forward(model, px, frames, cov, r1, r2):
    patches, _, _, _ = model.vision(px)
    feats = model.project(patches)
    out = []
    for rows in (r1, r2):
        logits, tgt, al = decode_rows(model, feats, rows)
        out.append((logits, tgt, al))
    return out, dense_loss(model, patches, frames, cov)


def vision_phase(model, seed, steps, lr):
    """Phase 1: the vision tower alone on the dense per-token loss, so that the decoder
    starts from visual tokens that already say what they show. Data: seed stream
    (seed, 10**6 + s), same scenes as the main phase draws."""
    params = [p for n, p in model.named_parameters()
              if n.startswith(("vision.", "attr_head."))]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.02, betas=(0.9, 0.98))
    t0 = time.time()
    hist = []
    for s in range(steps):
        f = min(1.0, (s + 1) / 50) * (0.5 * (1 + np.cos(np.pi * s / steps)) * 0.9 + 0.1)
        for g in opt.param_groups:
            g["lr"] = lr * f
        px, frames, cov, _, _ = make_step_data(seed, 10 ** 6 + s, rows=False)
        patches, _, _, _ = model.vision(px)
        loss = dense_loss(model, patches, frames, cov)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        hist.append(loss.item())
        if (s + 1) % 25 == 0:
            print(f"vision step {s + 1}/{steps} dense {np.mean(hist[-25:]):.4f} "
                  f"elapsed {time.time() - t0:.0f}s", flush=True)
    return time.time() - t0


def evaluate(model, seed=999, batches=4):
    """Teacher-forced argmax exact match (= greedy exact match) per question type."""
    model.eval()
    hit, tot = {}, {}
    with torch.no_grad():
        for s in range(batches):
            px, frames, cov, r1, r2 = make_step_data(seed, s, train=False)
            out, _ = forward(model, px, frames, cov, r1, r2)
            for (logits, tgt, _), rows in zip(out, (r1, r2)):
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
    ap.add_argument("--vision-steps", type=int, default=0, help="phase 1: vision tower alone on the dense loss")
    ap.add_argument("--resume", default="", help="phase 3: start from this checkpoint's whole model")
    ap.add_argument("--refined", action="store_true", help="per-layer targets for two-step and frame questions")
    ap.add_argument("--step-offset", type=int, default=0, help="draw the data of steps offset+s")
    ap.add_argument("--init-vision", default="", help="start the vision tower from this checkpoint")
    ap.add_argument("--attn-sup", type=float, default=1.0, help="weight of the attention supervision loss")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--out", default="build/scenesvqa/ckpt.pt")
    ap.add_argument("--replay", default="",
                    help="repeat the learning-rate trace of this checkpoint, or of a JSON list of rates")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    model = SceneVQA(Cfg())
    if a.init_vision:
        sd = torch.load(a.init_vision, map_location="cpu")["model"]
        vis = {k: v for k, v in sd.items() if k.startswith("vision.")}
        model.load_state_dict(vis, strict=False)
        print(f"vision tower from {a.init_vision} ({len(vis)} tensors)", flush=True)
    global REFINED
    REFINED = a.refined
    if a.resume:
        model.load_state_dict(torch.load(a.resume, map_location="cpu")["model"])
        print(f"model from {a.resume}", flush=True)
    vision_seconds = vision_phase(model, a.seed, a.vision_steps, a.lr) if a.vision_steps else 0.0
    torch.manual_seed(a.seed + 1)
    nparam = sum(p.numel() for n, p in model.named_parameters() )
    print(f"parameters (exported): {nparam}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.02, betas=(0.9, 0.98))
    t0 = time.time()
    total = a.steps or 10 ** 9
    warm = 100
    step = 0
    hist = []
    curve = []
    lrs = []
    replay = None
    if a.replay.endswith(".json"):
        with open(a.replay) as f:
            replay = json.load(f)
    elif a.replay:
        replay = torch.load(a.replay, map_location="cpu")["lrs"]
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
        px, frames, cov, r1, r2 = make_step_data(a.seed, a.step_offset + step)
        model.train()
        out, aux = forward(model, px, frames, cov, r1, r2)
        l1 = F.cross_entropy(out[0][0].reshape(-1, model.c.vocab), out[0][1].view(-1), ignore_index=-100)
        l2 = F.cross_entropy(out[1][0].reshape(-1, model.c.vocab), out[1][1].view(-1), ignore_index=-100)
        att = out[0][2] + out[1][2]
        loss = l1 + l2 + 0.5 * aux + a.attn_sup * att
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        hist.append((l1.item(), l2.item(), aux.item(), att.item()))
        step += 1
        if step % 25 == 0:
            m = np.mean(hist[-25:], 0)
            print(f"step {step}/{total} lr {lr:.2e} single {m[0]:.4f} seq {m[1]:.4f} tok {m[2]:.4f} att {m[3]:.3f} "
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
