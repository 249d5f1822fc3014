"""The scenes-vqa world: scenes on a 4x4 grid, frame sequences, questions, answers.

The grammar is documented in models/scenes-vqa/README.md (the model card). Everything
here is deterministic given a numpy Generator. The Go generator (scenes/vqa*.go) is an
independent implementation of the same grammar with its own random streams.
"""
import numpy as np

SHAPES = ["circle", "square", "triangle", "cross"]
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "cross": "crosses"}
COLOURS = {
    "red": (215, 35, 35),
    "green": (40, 165, 55),
    "blue": (40, 75, 215),
    "yellow": (235, 205, 25),
    "purple": (140, 55, 185),
    "orange": (245, 130, 25),
}
COLOUR_NAMES = list(COLOURS)
SIZES = {"small": (0.22, 0.28), "large": (0.36, 0.44)}  # half-extent / cell side
SIZE_NAMES = list(SIZES)
CELLS_PER_SIDE = 4
N_CELLS = CELLS_PER_SIDE * CELLS_PER_SIDE
# cell names: column letter a-d (left to right) + row digit 1-4 (top to bottom)
CELL_NAMES = [f"{'abcd'[c]}{r + 1}" for r in range(4) for c in range(4)]
MAX_OBJECTS = 6
MAX_FRAMES = 4
DIGITS = [str(i) for i in range(MAX_OBJECTS + 1)]

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>"] + [f"<frame_{i + 1}>" for i in range(MAX_FRAMES)]
WORDS = (["what", "colour", "shape", "size", "is", "the", "object", "at", "where", "how",
          "many", "objects", "are", "there", "in", "last", "frame", "a", "left", "of",
          "above", "below", "moved", "appeared", "disappeared", "?", "yes", "no", "nothing"]
         + SIZE_NAMES + COLOUR_NAMES + SHAPES + [PLURALS[s] for s in SHAPES]
         + CELL_NAMES + DIGITS)
VOCAB = {t: i for i, t in enumerate(SPECIALS + WORDS)}
PAD, BOS, EOS, UNK, IMAGE = 0, 1, 2, 3, 4
FRAME0 = 5  # <frame_1>; <frame_k> = FRAME0 + k - 1
GRID = 8    # 8x8 visual tokens per frame
N_IMAGE = GRID * GRID
IMAGE_SIZE = 96

SINGLE_TYPES = ["colour_at", "shape_at", "size_at", "where", "count", "exists", "left_of", "colour_next"]
SEQ_TYPES = ["moved", "appeared", "disappeared", "count_last"]


def answer_vocabulary():
    """Every answer the grammar can produce."""
    out = set(COLOUR_NAMES) | set(SHAPES) | set(SIZE_NAMES) | set(CELL_NAMES) | set(DIGITS)
    out |= {"yes", "no", "nothing"}
    out |= {f"{c} {s}" for c in COLOUR_NAMES for s in SHAPES}
    return out


def new_object(rng, cell, used):
    """A new object in cell whose (colour, shape) is not in used."""
    free = [(c, s) for c in COLOUR_NAMES for s in SHAPES if (c, s) not in used]
    colour, shape = free[int(rng.integers(len(free)))]
    size = SIZE_NAMES[int(rng.integers(2))]
    lo, hi = SIZES[size]
    half = float(rng.uniform(lo, hi))
    fx = float(rng.uniform(half, 1 - half))
    fy = float(rng.uniform(half, 1 - half))
    rgb = tuple(int(np.clip(v + rng.integers(-20, 21), 0, 255)) for v in COLOURS[colour])
    return dict(cell=int(cell), shape=shape, colour=colour, size=size, fx=fx, fy=fy, half=half, rgb=rgb)


def sample_scene(rng, nmin=1, nmax=MAX_OBJECTS):
    n = int(rng.integers(nmin, nmax + 1))
    cells = rng.choice(N_CELLS, size=n, replace=False).tolist()
    objs, used = [], set()
    for cell in cells:
        o = new_object(rng, cell, used)
        used.add((o["colour"], o["shape"]))
        objs.append(o)
    return objs


def sample_background(rng):
    base = int(rng.integers(165, 251))
    return tuple(int(np.clip(base + rng.integers(-12, 13), 0, 255)) for _ in range(3))


def name(o):
    return f"{o['colour']} {o['shape']}"


def at_cell(objs, cell):
    for o in objs:
        if o["cell"] == cell:
            return o
    return None


def count_question(rng, objs, suffix):
    """how many {colour} objects / {shape plural} ... -> (question, answer, relevant)."""
    if rng.random() < 0.5:
        c = objs[int(rng.integers(len(objs)))]["colour"] if objs and rng.random() < 0.7 else \
            COLOUR_NAMES[int(rng.integers(6))]
        rel = [o for o in objs if o["colour"] == c]
        q = f"how many {c} objects {suffix} ?"
    else:
        s = objs[int(rng.integers(len(objs)))]["shape"] if objs and rng.random() < 0.7 else \
            SHAPES[int(rng.integers(4))]
        rel = [o for o in objs if o["shape"] == s]
        q = f"how many {PLURALS[s]} {suffix} ?"
    return q, str(len(rel)), rel


def single_question(rng, objs, qtype):
    """Returns (question, answer, relevant objects)."""
    o = objs[int(rng.integers(len(objs)))]
    if qtype == "colour_at":
        return f"what colour is the object at {CELL_NAMES[o['cell']]} ?", o["colour"], [o]
    if qtype == "shape_at":
        return f"what shape is the object at {CELL_NAMES[o['cell']]} ?", o["shape"], [o]
    if qtype == "size_at":
        return f"what size is the object at {CELL_NAMES[o['cell']]} ?", o["size"], [o]
    if qtype == "where":
        return f"where is the {name(o)} ?", CELL_NAMES[o["cell"]], [o]
    if qtype == "count":
        return count_question(rng, objs, "are there")
    if qtype == "exists":
        if rng.random() < 0.5:
            return f"is there a {name(o)} ?", "yes", [o]
        used = {(p["colour"], p["shape"]) for p in objs}
        # half of the absent queries share colour or shape with a present object
        if rng.random() < 0.5:
            cand = [(c, s) for c in COLOUR_NAMES for s in SHAPES if (c, s) not in used
                    and (c == o["colour"] or s == o["shape"])]
        else:
            cand = [(c, s) for c in COLOUR_NAMES for s in SHAPES if (c, s) not in used]
        c, s = cand[int(rng.integers(len(cand)))]
        rel = [p for p in objs if p["colour"] == c or p["shape"] == s]
        return f"is there a {c} {s} ?", "no", rel
    if qtype == "left_of":
        # prefer an object that has a left neighbour (60 %)
        withn = [p for p in objs if p["cell"] % 4 > 0 and at_cell(objs, p["cell"] - 1)]
        if withn and rng.random() < 0.6:
            o = withn[int(rng.integers(len(withn)))]
        nb = at_cell(objs, o["cell"] - 1) if o["cell"] % 4 > 0 else None
        return f"what is left of the {name(o)} ?", name(nb) if nb else "nothing", [o] + ([nb] if nb else [])
    if qtype == "colour_next":
        d = "above" if rng.random() < 0.5 else "below"
        off = -4 if d == "above" else 4

        def nbr(p):
            c = p["cell"] + off
            return at_cell(objs, c) if 0 <= c < N_CELLS else None
        withn = [p for p in objs if nbr(p)]
        if withn and rng.random() < 0.6:
            o = withn[int(rng.integers(len(withn)))]
        nb = nbr(o)
        return f"what colour is the object {d} the {name(o)} ?", nb["colour"] if nb else "nothing", \
            [o] + ([nb] if nb else [])
    raise ValueError(qtype)


def sample_single(rng, nq):
    """A single-image sample: scene + nq questions (type uniform)."""
    objs = sample_scene(rng)
    qs = []
    for _ in range(nq):
        t = SINGLE_TYPES[int(rng.integers(len(SINGLE_TYPES)))]
        q, a, rel = single_question(rng, objs, t)
        qs.append(dict(type=t, question=q, answer=a, relevant=[[id(r) for r in rel]]))
    return [objs], qs


EVENTS = ["move", "appear", "disappear", "none"]


def sample_sequence(rng, nq, nframes=None):
    """2-4 frames, one event (move / appear / disappear) at one transition, or none.

    Every frame holds its own object dicts (static objects are copies with the same
    geometry); relevant objects are referenced per frame by id().
    """
    nf = int(rng.integers(2, MAX_FRAMES + 1)) if nframes is None else nframes
    qtypes = [SEQ_TYPES[int(rng.integers(len(SEQ_TYPES)))] for _ in range(nq)]
    match = {"moved": "move", "appeared": "appear", "disappeared": "disappear"}
    if qtypes[0] in match and rng.random() < 0.6:
        ev = match[qtypes[0]]
    else:
        ev = EVENTS[int(rng.integers(4))]
    nmin = 2 if ev == "move" else 1
    nmax = MAX_OBJECTS - 1 if ev == "appear" else MAX_OBJECTS
    if ev == "disappear":
        nmin = 2 if nmax >= 2 else 1
    if ev == "move":
        nmin = 1
    before = sample_scene(rng, nmin, nmax)
    after = [dict(o) for o in before]
    changed = None
    occupied = {o["cell"] for o in before}
    free = [c for c in range(N_CELLS) if c not in occupied]
    if ev == "move":
        k = int(rng.integers(len(after)))
        cell = free[int(rng.integers(len(free)))]
        o = after[k]
        o["cell"] = int(cell)
        o["fx"] = float(rng.uniform(o["half"], 1 - o["half"]))
        o["fy"] = float(rng.uniform(o["half"], 1 - o["half"]))
        changed = k
    elif ev == "appear":
        cell = free[int(rng.integers(len(free)))]
        o = new_object(rng, cell, {(p["colour"], p["shape"]) for p in before})
        after.append(o)
        changed = len(after) - 1
    elif ev == "disappear":
        changed = int(rng.integers(len(after)))
        after = after[:changed] + after[changed + 1:]
        after.append(None)  # keep index bookkeeping simple below
        after = [o for o in after if o is not None]
    t = int(rng.integers(1, nf))  # frames < t show before, frames >= t show after
    frames = []
    for f in range(nf):
        src = before if f < t else after
        frames.append([dict(o) for o in src])
    first, last = frames[0], frames[-1]
    qs = []

    def refs(pred):
        return [[id(o) for o in fr if pred(o)] for fr in frames]

    for qt in qtypes:
        if qt == "moved":
            if ev == "move":
                ob = before[changed]
                key = (ob["colour"], ob["shape"])
                a, rel = name(ob), refs(lambda o: (o["colour"], o["shape"]) == key)
            else:
                a, rel = "nothing", [[] for _ in frames]
            qs.append(dict(type=qt, question="what moved ?", answer=a, relevant=rel))
        elif qt == "appeared":
            if ev == "appear":
                ob = after[changed]
                key = (ob["colour"], ob["shape"])
                a, rel = name(ob), refs(lambda o: (o["colour"], o["shape"]) == key)
            else:
                a, rel = "nothing", [[] for _ in frames]
            qs.append(dict(type=qt, question="what appeared ?", answer=a, relevant=rel))
        elif qt == "disappeared":
            if ev == "disappear":
                ob = before[changed]
                key = (ob["colour"], ob["shape"])
                a, rel = name(ob), refs(lambda o: (o["colour"], o["shape"]) == key)
            else:
                a, rel = "nothing", [[] for _ in frames]
            qs.append(dict(type=qt, question="what disappeared ?", answer=a, relevant=rel))
        else:
            q, a, relobjs = count_question(rng, last, "are in the last frame")
            ids = {id(o) for o in relobjs}
            rel = [[] for _ in frames[:-1]] + [[id(o) for o in last if id(o) in ids]]
            qs.append(dict(type=qt, question=q, answer=a, relevant=rel))
    return frames, qs


def encode_words(text):
    return [VOCAB[w] for w in text.split()]


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    av = answer_vocabulary()
    for _ in range(3):
        fr, qs = sample_single(rng, 4)
        print([(CELL_NAMES[o["cell"]], name(o), o["size"]) for o in fr[0]])
        for q in qs:
            assert q["answer"] in av
            print("  ", q["type"], "|", q["question"], "->", q["answer"])
    for _ in range(4):
        fr, qs = sample_sequence(rng, 3)
        for f in fr:
            print("   frame", [(CELL_NAMES[o["cell"]], name(o)) for o in f])
        for q in qs:
            assert q["answer"] in av
            print("  ", q["type"], "|", q["question"], "->", q["answer"], [len(r) for r in q["relevant"]])
    print(len(VOCAB), "tokens")
