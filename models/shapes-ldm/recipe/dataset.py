"""Procedural shapes dataset: renderer, colour palette, prompt templates, held-out splits.

Everything here is deterministic given a seed, so the training recipe and the
evaluation (which classifies generated images against this same renderer)
agree exactly on what "a red circle on a blue background" looks like.
"""
import random
import numpy as np
from PIL import Image, ImageDraw

IMG = 64          # image side in pixels
SS = 4            # supersampling factor for anti-aliased edges

# Named colours, chosen far apart in RGB (min pairwise distance ~100) so that
# nearest-colour classification of generated images is unambiguous.
COLORS = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 40),
    "purple": (160, 40, 200),
    "cyan": (40, 200, 220),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
FG_COLORS = ["red", "green", "blue", "yellow", "purple", "cyan", "white", "black"]
BG_COLORS = ["white", "black", "gray", "blue", "red", "yellow", "green"]
SHAPES = ["circle", "square", "triangle", "star", "cross"]

# Size = half extent of the shape's bounding box in pixels; the shape is kept
# at least MARGIN pixels away from the border so the border is pure background.
SIZE_MIN, SIZE_MAX, MARGIN = 10, 22, 2

# Wording templates.  {c}=shape colour, {s}=shape, {b}=background colour.
# Held out from training entirely: new arrangements of known words.  The
# evaluation uses only these, so they must never be trained on verbatim, nor
# as the tail of a longer training wording ("a picture of " + held-out).
HELDOUT_TEMPLATES = [
    "a {c} {s} over a {b} backdrop",
    "{b} background with a {c} {s}",
    "a drawing of a {c} {s} on a {b} background",
    "{c} {s} against {b}",
]

# Training wordings come from a small grammar rather than a fixed list: the
# colour words must be bound to their role (shape or background) by the words
# around them, in either order and at any position, not by where they sit in
# the 77-token sequence.  A fixed list of ten wordings taught the model
# positions, and a held-out wording that merely dropped the leading "a" was
# drawn with foreground and background swapped.
_PREFIXES = ["", "a picture of ", "an image of ", "a drawing of ", "a photo of ", "an illustration of ", "a simple "]
_SHAPE_PHRASES = ["a {c} {s}", "{c} {s}", "one {c} {s}", "a single {c} {s}"]
_BG_AFTER = [" on a {b} background", " on {b}", " over {b}", " against a {b} background", ", {b} background",
             ", {b} backdrop", " on a {b} backdrop", " with a {b} background", " in front of a {b} background",
             " on a plain {b} background", " over a {b} background"]
_BG_BEFORE = ["a {b} background with {x}", "{b} background, {x}", "on a {b} background, {x}", "a {b} backdrop with {x}",
              "{b} backdrop and {x}", "a {b} background with {x} in it", "against a {b} background, {x}",
              "a plain {b} background and {x}"]
_ATTRIBUTES = ["the {s} is {c} and the background is {b}", "the background is {b} and the {s} is {c}",
               "a {s} in {c} on a {b} background", "a {b} background and a {s} in {c}"]


def _train_templates():
    out = []
    for pre in _PREFIXES:
        bare = pre == "" or pre == "a simple "
        for x in _SHAPE_PHRASES:
            if pre == "a simple " and not x.startswith("{c}"):
                continue  # "a simple {c} {s}" reads well, "a simple a {c} {s}" does not
            out += [pre + x + tail for tail in _BG_AFTER]
            if pre != "a simple ":  # "a picture of" + "a {b} background with ...", but not "a picture of on a ..."
                out += [pre + head.format(b="{b}", x=x) for head in _BG_BEFORE if bare or head.startswith("a ")]
        if pre != "a simple ":
            out += [pre + a for a in _ATTRIBUTES if pre == "" or a.startswith("a ")]
    held = set(HELDOUT_TEMPLATES)
    out = [t for t in dict.fromkeys(out) if not any(t == h or t.endswith(" " + h) for h in held)]
    return out


TRAIN_TEMPLATES = _train_templates()

ALL_COMBOS = [(c, s, b) for c in FG_COLORS for s in SHAPES for b in BG_COLORS if c != b]


def heldout_combos(n=16, seed=1234):
    """(colour, shape, background) combos never shown in training.

    Picked so that every colour, shape and background still appears in
    training with other partners (we test composition, not new words)."""
    rng = random.Random(seed)
    combos = list(ALL_COMBOS)
    rng.shuffle(combos)
    held = []
    for cmb in combos:
        if len(held) == n:
            break
        # at most 2 held-out combos per (colour, shape) and per (colour, bg)
        if sum(1 for h in held if h[0] == cmb[0] and h[1] == cmb[1]) >= 1:
            continue
        if sum(1 for h in held if h[0] == cmb[0] and h[2] == cmb[2]) >= 1:
            continue
        held.append(cmb)
    return held


HELDOUT_COMBOS = heldout_combos()
TRAIN_COMBOS = [c for c in ALL_COMBOS if c not in set(HELDOUT_COMBOS)]


def prompt(template, color, shape, bg):
    return template.format(c=color, s=shape, b=bg)


def shape_polygon(shape, cx, cy, r):
    """Polygon (list of xy) or ('ellipse', box) for a shape of half-extent r."""
    if shape == "circle":
        return ("ellipse", [cx - r, cy - r, cx + r, cy + r])
    if shape == "square":
        r2 = r * 0.85  # visually similar area to the circle
        return ("poly", [(cx - r2, cy - r2), (cx + r2, cy - r2), (cx + r2, cy + r2), (cx - r2, cy + r2)])
    if shape == "triangle":
        return ("poly", [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)])
    if shape == "star":
        pts = []
        for i in range(10):
            ang = -np.pi / 2 + i * np.pi / 5
            rad = r if i % 2 == 0 else r * 0.45
            pts.append((cx + rad * np.cos(ang), cy + rad * np.sin(ang) * 1.0 + r * 0.1))
        return ("poly", pts)
    if shape == "cross":
        w = r * 0.38
        return ("poly", [(cx - w, cy - r), (cx + w, cy - r), (cx + w, cy - w), (cx + r, cy - w),
                         (cx + r, cy + w), (cx + w, cy + w), (cx + w, cy + r), (cx - w, cy + r),
                         (cx - w, cy + w), (cx - r, cy + w), (cx - r, cy - w), (cx - w, cy - w)])
    raise ValueError(shape)


def render_mask(shape, cx, cy, r):
    """Anti-aliased coverage mask in [0,1], float32 [IMG, IMG]."""
    im = Image.new("L", (IMG * SS, IMG * SS), 0)
    d = ImageDraw.Draw(im)
    kind, geo = shape_polygon(shape, cx * SS, cy * SS, r * SS)
    if kind == "ellipse":
        d.ellipse(geo, fill=255)
    else:
        d.polygon(geo, fill=255)
    im = im.resize((IMG, IMG), Image.BOX)
    return np.asarray(im, dtype=np.float32) / 255.0


def render(color, shape, bg, cx, cy, r):
    """uint8 [IMG, IMG, 3] image."""
    m = render_mask(shape, cx, cy, r)[..., None]
    fg = np.array(COLORS[color], np.float32)
    bgc = np.array(COLORS[bg], np.float32)
    return np.round(m * fg + (1 - m) * bgc).astype(np.uint8)


def random_geometry(rng):
    r = rng.uniform(SIZE_MIN, SIZE_MAX)
    lo, hi = r + MARGIN, IMG - r - MARGIN
    return rng.uniform(lo, hi), rng.uniform(lo, hi), r


def make_images(combos, per_combo, seed):
    """Pre-render per_combo images of every combo: uint8 [N,64,64,3], labels [N] (combo index)."""
    rng = random.Random(seed)
    imgs = np.zeros((len(combos) * per_combo, IMG, IMG, 3), np.uint8)
    labels = np.zeros(len(combos) * per_combo, np.int64)
    k = 0
    for ci, (c, s, b) in enumerate(combos):
        for _ in range(per_combo):
            imgs[k] = render(c, s, b, *random_geometry(rng))
            labels[k] = ci
            k += 1
    return imgs, labels


if __name__ == "__main__":
    import sys, time
    t = time.time()
    ims, lab = make_images(ALL_COMBOS[:10], 4, 0)
    print("render per image ms", (time.time() - t) / len(ims) * 1000)
    print(len(ALL_COMBOS), "combos;", len(TRAIN_COMBOS), "train;", "heldout:", HELDOUT_COMBOS)
    grid = np.concatenate([np.concatenate(list(ims[i * 8:(i + 1) * 8]), 1) for i in range(5)], 0)
    Image.fromarray(grid).save(sys.argv[1] if len(sys.argv) > 1 else "/tmp/grid.png")
