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
    (N,K,64), K = MAX_OBJECTS, rows in each frame's object order. Pixel-centre masks;
    each object is rasterised only inside its bounding box."""
    b = len(frames)
    K = MAX_OBJECTS
    cell = res / CELLS_PER_SIDE
    img = torch.tensor(bgs, dtype=torch.float32).view(b, 3, 1, 1).expand(b, 3, res, res).clone()
    m = torch.zeros(b, K, res, res, dtype=torch.bool)
    for i, objs in enumerate(frames):
        for k, o in enumerate(objs):
            r, c = divmod(o["cell"], CELLS_PER_SIDE)
            cx = (c + o["fx"]) * cell
            cy = (r + o["fy"]) * cell
            h = o["half"] * cell
            x0, x1 = max(0, int(np.floor(cx - h)) - 1), min(res, int(np.ceil(cx + h)) + 1)
            y0, y1 = max(0, int(np.floor(cy - h)) - 1), min(res, int(np.ceil(cy + h)) + 1)
            dx = (torch.arange(x0, x1, dtype=torch.float32) + 0.5 - cx).view(1, -1)
            dy = (torch.arange(y0, y1, dtype=torch.float32) + 0.5 - cy).view(-1, 1)
            mk = shape_mask1(SHAPES.index(o["shape"]), dx, dy, h)
            m[i, k, y0:y1, x0:x1] = mk
            col = torch.tensor(o["rgb"], dtype=torch.float32).view(3, 1, 1)
            win = img[i, :, y0:y1, x0:x1]
            img[i, :, y0:y1, x0:x1] = torch.where(mk[None], col, win)
    noise_std = float(rng.uniform(1.0, 6.0))
    g = torch.Generator().manual_seed(int(rng.integers(1 << 62)))
    img = img + torch.randn(img.shape, generator=g) * noise_std
    cov = F.adaptive_avg_pool2d(m.float(), GRID).view(b, K, GRID * GRID)
    return img.clamp(0, 255), cov


def shape_mask1(shape, dx, dy, h):
    """Mask of one shape (index into SHAPES) on offsets dx (1,W), dy (H,1)."""
    if shape == 0:
        return dx * dx + dy * dy <= h * h
    if shape == 1:
        return (dx.abs() <= h) & (dy.abs() <= h)
    if shape == 2:
        return (dy >= -h) & (dy <= h) & (dx.abs() <= (dy + h) / 2)
    t = h / 3
    return ((dx.abs() <= h) & (dy.abs() <= t)) | ((dy.abs() <= h) & (dx.abs() <= t))


def to_model_input(img, rng):
    if img.shape[-1] != IMAGE_SIZE:
        mode = ["bilinear", "bicubic"][int(rng.integers(2))]
        img = F.interpolate(img, size=(IMAGE_SIZE, IMAGE_SIZE), mode=mode,
                            align_corners=False, antialias=True)
    img = img.clamp(0, 255).round()
    return img / 127.5 - 1.0


def centre_token(o):
    """The grid token (0..63) that holds the centre of object o."""
    r, c = divmod(o["cell"], CELLS_PER_SIDE)
    per = GRID // CELLS_PER_SIDE
    gx = min(GRID - 1, int((c + o["fx"]) * per))
    gy = min(GRID - 1, int((r + o["fy"]) * per))
    return gy * GRID + gx


def centre_labels(frames):
    """(N,64) float: 1 on each object's centre token."""
    out = torch.zeros(len(frames), GRID * GRID)
    for i, objs in enumerate(frames):
        for o in objs:
            out[i, centre_token(o)] = 1.0
    return out


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
