"""Shared definitions of the scene world: grammar, vocabulary, caption rules.

The scene grammar is documented in models/scenes-tiny/README.md (the model card).
Everything here is deterministic given a numpy Generator.
"""
import numpy as np

SHAPES = ["circle", "square", "triangle", "cross"]
COLOURS = {
    "red": (215, 35, 35),
    "green": (40, 165, 55),
    "blue": (40, 75, 215),
    "yellow": (235, 205, 25),
    "purple": (140, 55, 185),
    "orange": (245, 130, 25),
}
COLOUR_NAMES = list(COLOURS)
SIZES = {"small": (0.23, 0.27), "large": (0.37, 0.43)}
SIZE_NAMES = list(SIZES)
POSITIONS = [
    "at the top left", "at the top", "at the top right",
    "on the left", "in the center", "on the right",
    "at the bottom left", "at the bottom", "at the bottom right",
]

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]
WORDS = ["caption", ":", "a", "small", "large"] + COLOUR_NAMES + SHAPES + [
    "at", "the", "top", "left", "right", "on", "in", "center", "bottom", ",", "and"]
VOCAB = {t: i for i, t in enumerate(SPECIALS + WORDS)}
PAD, BOS, EOS, UNK, IMAGE = 0, 1, 2, 3, 4
PROMPT_TEXT = "caption :"
GRID = 8            # 8x8 patch tokens
N_IMAGE = GRID * GRID
IMAGE_SIZE = 96


def sample_scene(rng):
    """Returns a list of objects (cell, shape, colour, size, fx, fy, half, rgb).

    fx, fy are the object's centre as fractions of the cell side inside its cell,
    half is the half-extent as a fraction of the cell side.
    """
    n = int(rng.integers(1, 5))
    cells = sorted(rng.choice(9, size=n, replace=False).tolist())
    objs = []
    for cell in cells:
        shape = SHAPES[int(rng.integers(4))]
        colour = COLOUR_NAMES[int(rng.integers(6))]
        size = SIZE_NAMES[int(rng.integers(2))]
        lo, hi = SIZES[size]
        half = float(rng.uniform(lo, hi))
        fx = float(rng.uniform(half, 1 - half))
        fy = float(rng.uniform(half, 1 - half))
        rgb = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in COLOURS[colour])
        objs.append(dict(cell=cell, shape=shape, colour=colour, size=size,
                         fx=fx, fy=fy, half=half, rgb=rgb))
    return objs


def sample_background(rng):
    base = int(rng.integers(165, 251))
    return tuple(int(np.clip(base + rng.integers(-12, 13), 0, 255)) for _ in range(3))


def caption(objs):
    phrases = [f"a {o['size']} {o['colour']} {o['shape']} {POSITIONS[o['cell']]}"
               for o in sorted(objs, key=lambda o: o["cell"])]
    if len(phrases) == 1:
        return phrases[0]
    return " , ".join(phrases[:-1]) + " and " + phrases[-1]


def encode_words(text):
    return [VOCAB[w] for w in text.split()]
