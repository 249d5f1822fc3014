"""Batch frame renderer in torch, used for training only (fast, on the fly).

Held-out images come from the Go generator's own renderer (scenes/vqa*.go), so the
model is evaluated on pixels it was not trained on.
"""
import numpy as np
import torch
import torch.nn.functional as F

from common import GRID, IMAGE_SIZE, SHAPES, COLOUR_NAMES, SIZE_NAMES, MAX_OBJECTS, CELLS_PER_SIDE


def shape_mask(shape_idx, dx, dy, h):
    circle = dx * dx + dy * dy <= h * h
    square = (dx.abs() <= h) & (dy.abs() <= h)
    tri = (dy >= -h) & (dy <= h) & (dx.abs() <= (dy + h) / 2)
    t = h / 3
    cross = ((dx.abs() <= h) & (dy.abs() <= t)) | ((dy.abs() <= h) & (dx.abs() <= t))
    masks = torch.stack([circle, square, tri, cross], 0)
    return masks.gather(0, shape_idx.view(1, *shape_idx.shape, 1, 1).expand(
        1, *dx.shape)).squeeze(0)


def render_frames(rng, frames, bgs, res):
    """frames: list of object lists (one per image), bgs: background per image.

    Returns pixels (N,3,R,R) float 0-255 and per-object coverage of each patch token
    (N,K,64), K = MAX_OBJECTS, rows in each frame's object order."""
    b = len(frames)
    K = MAX_OBJECTS
    cx = torch.zeros(b, K)
    cy = torch.zeros(b, K)
    hh = torch.ones(b, K)
    sidx = torch.zeros(b, K, dtype=torch.int64)
    valid = torch.zeros(b, K, dtype=torch.bool)
    rgb = torch.zeros(b, K, 3)
    cell = res / CELLS_PER_SIDE
    for i, objs in enumerate(frames):
        for k, o in enumerate(objs):
            r, c = divmod(o["cell"], CELLS_PER_SIDE)
            cx[i, k] = (c + o["fx"]) * cell
            cy[i, k] = (r + o["fy"]) * cell
            hh[i, k] = o["half"] * cell
            sidx[i, k] = SHAPES.index(o["shape"])
            valid[i, k] = True
            rgb[i, k] = torch.tensor(o["rgb"], dtype=torch.float32)
    coords = torch.arange(res, dtype=torch.float32) + 0.5
    X = coords.view(1, 1, 1, res)
    Y = coords.view(1, 1, res, 1)
    dx = X - cx[..., None, None]
    dy = Y - cy[..., None, None]
    m = shape_mask(sidx, dx.expand(b, K, res, res), dy.expand(b, K, res, res),
                   hh[..., None, None]) & valid[..., None, None]
    img = torch.tensor(bgs, dtype=torch.float32).view(b, 3, 1, 1).expand(b, 3, res, res).clone()
    for k in range(K):
        mk = m[:, k:k + 1]
        img = torch.where(mk, rgb[:, k].view(b, 3, 1, 1), img)
    noise_std = float(rng.uniform(1.0, 6.0))
    g = torch.Generator().manual_seed(int(rng.integers(1 << 62)))
    img = img + torch.randn(img.shape, generator=g) * noise_std
    cov = F.adaptive_avg_pool2d(m.float(), GRID).view(b, K, GRID * GRID)
    return img.clamp(0, 255), cov


def to_model_input(img, rng):
    if img.shape[-1] != IMAGE_SIZE:
        mode = ["bilinear", "bicubic"][int(rng.integers(2))]
        img = F.interpolate(img, size=(IMAGE_SIZE, IMAGE_SIZE), mode=mode,
                            align_corners=False, antialias=True)
    img = img.clamp(0, 255).round()
    return img / 127.5 - 1.0


def token_labels(frames, cov):
    """Dense per-token targets: shape / colour / size of the object covering the token most
    (> 8 % of the patch), 0 = none."""
    b = len(frames)
    ts = torch.zeros(b, GRID * GRID, dtype=torch.int64)
    tc = torch.zeros(b, GRID * GRID, dtype=torch.int64)
    tz = torch.zeros(b, GRID * GRID, dtype=torch.int64)
    best, arg = cov.max(1)
    for i, objs in enumerate(frames):
        for k, o in enumerate(objs):
            sel = (arg[i] == k) & (best[i] > 0.08)
            ts[i, sel] = SHAPES.index(o["shape"]) + 1
            tc[i, sel] = COLOUR_NAMES.index(o["colour"]) + 1
            tz[i, sel] = SIZE_NAMES.index(o["size"]) + 1
    return ts, tc, tz
