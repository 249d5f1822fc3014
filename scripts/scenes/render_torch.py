"""Batch scene renderer in torch, used for training (fast, on the fly).

Held-out and example images come from a different renderer (render_pil.py and the
Go generator) so that the model is evaluated on pixels it was not trained on.
"""
import numpy as np
import torch
import torch.nn.functional as F

from common import (GRID, IMAGE_SIZE, SHAPES, COLOUR_NAMES, SIZE_NAMES,
                    sample_scene, sample_background)


def shape_mask(shape_idx, dx, dy, h):
    """dx, dy (..., R, R) pixel offsets from the centre, h half-extent (...,1,1)."""
    circle = dx * dx + dy * dy <= h * h
    square = (dx.abs() <= h) & (dy.abs() <= h)
    tri = (dy >= -h) & (dy <= h) & (dx.abs() <= (dy + h) / 2)
    t = h / 3
    cross = ((dx.abs() <= h) & (dy.abs() <= t)) | ((dy.abs() <= h) & (dx.abs() <= t))
    masks = torch.stack([circle, square, tri, cross], 0)
    return masks.gather(0, shape_idx.view(1, *shape_idx.shape, 1, 1).expand(
        1, *dx.shape)).squeeze(0)


def render_batch(rng, b, res):
    """Renders b scenes at res x res, returns (pixels float 0-255 (B,3,R,R), scenes,
    per-object coverage of each 8x8 patch (B,4,64) at model resolution)."""
    scenes = [sample_scene(rng) for _ in range(b)]
    bgs = [sample_background(rng) for _ in range(b)]
    K = 4
    cx = torch.zeros(b, K)
    cy = torch.zeros(b, K)
    hh = torch.zeros(b, K)
    sidx = torch.zeros(b, K, dtype=torch.int64)
    valid = torch.zeros(b, K, dtype=torch.bool)
    rgb = torch.zeros(b, K, 3)
    cell = res / 3.0
    for i, objs in enumerate(scenes):
        for k, o in enumerate(objs):
            r, c = divmod(o["cell"], 3)
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
    return img.clamp(0, 255), scenes, cov


def to_model_input(img, rng):
    """Resize (B,3,R,R) 0-255 to the model size with a random antialiased filter,
    quantize to 8 bits as a real image file would be, normalize to [-1, 1]."""
    if img.shape[-1] != IMAGE_SIZE:
        mode = ["bilinear", "bicubic"][int(rng.integers(2))]
        img = F.interpolate(img, size=(IMAGE_SIZE, IMAGE_SIZE), mode=mode,
                            align_corners=False, antialias=True)
    img = img.clamp(0, 255).round()
    return img / 127.5 - 1.0


def labels(scenes, cov):
    """CLS targets per cell and dense per-token targets."""
    b = len(scenes)
    cell_shape = torch.zeros(b, 9, dtype=torch.int64)      # 0 = empty
    cell_colour = torch.full((b, 9), -100, dtype=torch.int64)
    cell_size = torch.full((b, 9), -100, dtype=torch.int64)
    tok_shape = torch.zeros(b, GRID * GRID, dtype=torch.int64)
    tok_colour = torch.zeros(b, GRID * GRID, dtype=torch.int64)
    tok_size = torch.zeros(b, GRID * GRID, dtype=torch.int64)
    best, arg = cov.max(1)                                  # (B,64)
    for i, objs in enumerate(scenes):
        for k, o in enumerate(objs):
            cell_shape[i, o["cell"]] = SHAPES.index(o["shape"]) + 1
            cell_colour[i, o["cell"]] = COLOUR_NAMES.index(o["colour"])
            cell_size[i, o["cell"]] = SIZE_NAMES.index(o["size"])
            sel = (arg[i] == k) & (best[i] > 0.08)
            tok_shape[i, sel] = SHAPES.index(o["shape"]) + 1
            tok_colour[i, sel] = COLOUR_NAMES.index(o["colour"]) + 1
            tok_size[i, sel] = SIZE_NAMES.index(o["size"]) + 1
    return cell_shape, cell_colour, cell_size, tok_shape, tok_colour, tok_size


def oracle_scores(cov):
    """Overlap of each patch token with all objects (B,64)."""
    return cov.sum(1)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    img, scenes, cov = render_batch(rng, 4, 192)
    print(img.shape, cov.shape, [len(s) for s in scenes])
