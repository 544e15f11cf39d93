"""``fastnn reproduce segmentation``: how well :func:`fastnn.read_digits` reads lines.

Lines of handwritten digits are composed from the MNIST **test** images (never seen in
training) the way a person's writing looks on a page: dark ink on light paper, each digit
at its own size (scaled 0.8-1.25 times a base height of 40 pixels, so strokes vary in
width too), shifted up or down by up to 10 % of the height, with random spacing. Two
sets:

* **separated**: lines of six digits with gaps of 4-16 pixels between their ink;
* **touching**: lines of two digits whose ink touches or overlaps (the gap is drawn
  from -20 % to 0 % of the height and then closed, a pixel at a time, until the two
  digits form one connected component; pairs that would need their boxes to overlap
  by more than 40 % of the narrower digit's width are skipped, and counted).

Each line is written as a real PNG file and read back through the public path,
:func:`fastnn.read_digits` on the file. Per-digit accuracy is 1 minus the edit
(Levenshtein) distance between the digits read and the truth, divided by the number of
digits, summed over lines; whole-line accuracy counts the lines read exactly. Beside
them, the classifier's own accuracy on the same digits as MNIST gives them (no
segmentation). And the chapter's own example: the first six MNIST *training* images side
by side must read "504192".
"""

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fastnn._io import atomic_write
from fastnn.datasets import load_mnist
from fastnn.images import as_classifier, read_digits

__all__ = ["SegmentationResults", "compose_line", "evaluate_segmentation", "chapter_example",
           "markdown_table", "add_arguments", "run_cli", "save_page"]

BASE_HEIGHT = 40
MARGIN = 12


def _digit_ink(x, height, rng, Image):
    """One MNIST digit (784 values in [0, 1]) cropped to its ink and scaled to ``height``
    rows (times a random 0.8-1.25), as float32 ink bright on 0."""
    a = x.reshape(28, 28)
    rows = np.flatnonzero(a.any(axis=1))
    cols = np.flatnonzero(a.any(axis=0))
    crop = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    h = max(4, round(height * rng.uniform(0.8, 1.25) * crop.shape[0] / 20))
    w = max(2, round(crop.shape[1] * h / crop.shape[0]))
    return np.clip(np.asarray(Image.fromarray(crop).resize((w, h), Image.Resampling.BICUBIC)), 0, 1)


def compose_line(digits, gaps, rng, *, height=BASE_HEIGHT, profiles=False):
    """Compose digits into one line of ink; return ``(ink, boxes)``.

    Parameters
    ----------
    digits : list of ndarray of shape (784,)
        MNIST digits, values in [0, 1].
    gaps : list of int
        Pixels between the ink of consecutive digits (negative: overlapping), one
        fewer than ``digits``.
    rng : numpy.random.Generator
        Draws each digit's scale and vertical shift.
    height : int, default 40
    profiles : bool, default False
        Also return each digit's column ink profile (its ink summed over rows, at the
        line's columns), which says how much of each digit a column range holds.

    Returns
    -------
    ink : ndarray of shape (H, W), float32
        Ink in [0, 1], bright on 0 (the union of the digits: their maximum).
    boxes : list of tuple
        Each digit's ``(left, top, right, bottom)`` in ``ink``.
    column_profiles : list of ndarray of shape (W,)
        Only with ``profiles=True``.
    """
    from PIL import Image

    pieces = [_digit_ink(x, height, rng, Image) for x in digits]
    H = int(1.25 * height * 1.25) + 2 * MARGIN
    lefts = [MARGIN]
    for p, g in zip(pieces[:-1], gaps):
        lefts.append(lefts[-1] + p.shape[1] + int(g))
    lefts = [max(MARGIN, x) for x in lefts]
    W = max(x + p.shape[1] for x, p in zip(lefts, pieces)) + MARGIN
    ink = np.zeros((H, W), dtype=np.float32)
    boxes = []
    for p, x0 in zip(pieces, lefts):
        centre = H / 2 + rng.uniform(-0.1, 0.1) * height
        y0 = int(np.clip(round(centre - p.shape[0] / 2), 0, H - p.shape[0]))
        region = ink[y0:y0 + p.shape[0], x0:x0 + p.shape[1]]
        np.maximum(region, p, out=region)
        boxes.append((x0, y0, x0 + p.shape[1], y0 + p.shape[0]))
    if profiles:
        cols = []
        for p, (x0, _, x1, _) in zip(pieces, boxes):
            c = np.zeros(W)
            c[x0:x1] = p.sum(axis=0)
            cols.append(c)
        return ink, boxes, cols
    return ink, boxes


def _touching_pair(a, b, rng, Image, ndimage):
    """A two-digit line whose ink forms one connected component, or None when that
    would take an overlap of more than 40 % of the narrower digit's width."""
    state = rng.bit_generator.state
    gap = round(rng.uniform(-0.2, 0.0) * BASE_HEIGHT)
    while True:
        rng.bit_generator.state = state  # the same scales and shifts at every gap
        rng.uniform()
        ink, boxes = compose_line([a, b], [gap], rng)
        narrower = min(boxes[0][2] - boxes[0][0], boxes[1][2] - boxes[1][0])
        if boxes[0][2] - boxes[1][0] > 0.4 * narrower:
            return None
        if ndimage.label(ink >= 0.25, structure=np.ones((3, 3)))[1] == 1:
            return ink, boxes
        gap -= 1


def save_page(ink, path):
    """Write ink (bright on 0, in [0, 1]) as dark on light paper: an 8-bit gray PNG,
    by Pillow, atomically."""
    from PIL import Image

    page = np.round(255 * (1 - ink)).astype(np.uint8)
    with atomic_write(path) as (f, _):
        Image.fromarray(page).save(f, format="PNG")


def _edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
    return d[-1]


@dataclasses.dataclass
class SetResult:
    """Accuracy on one set of lines."""

    name: str
    lines: int
    digits: int
    digit_accuracy: float
    line_accuracy: float
    classifier_accuracy: float
    seconds_per_line: float
    examples: list
    skipped: int = 0


@dataclasses.dataclass
class SegmentationResults:
    """What :func:`evaluate_segmentation` measured."""

    sets: list
    chapter_example: str
    seed: int
    command: str
    seconds: float

    def to_json(self, path):
        with open(path, "w") as f:
            json.dump(dataclasses.asdict(self), f, indent=2)


def chapter_example(net=None, data_dir=None, out=None, *, train_images=None):
    """Read the first six MNIST training images side by side; returns the text (the
    book's "504192"). Writes the line, dark on light, to ``out`` if given.

    ``train_images`` (an array whose first six rows are MNIST's first six training
    images) saves loading MNIST from ``data_dir``."""
    X = train_images if train_images is not None else load_mnist(data_dir, dtype="float32")[0][0]
    ink = np.hstack([x.reshape(28, 28) for x in X[:6]])
    ink = np.pad(ink, 4)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(out) if out is not None else Path(tmp) / "504192.png"
        save_page(ink, path)
        return read_digits(path, net).text


def evaluate_segmentation(net=None, *, n_lines=100, n_pairs=200, seed=0, data_dir=None,
                          out_dir=None, verbose=True, mnist=None):
    """Compose lines from MNIST's test set, read them back from PNG files, score them.

    Parameters
    ----------
    net : Network or path, optional
        The classifier; default :func:`fastnn.images.default_model`.
    n_lines : int, default 100
        Separated lines of six digits.
    n_pairs : int, default 200
        Touching pairs (lines of two digits).
    seed : int, default 0
        Draws the digits, their scales, shifts and gaps.
    data_dir : str, optional
        Where MNIST is (default: as :func:`fastnn.load_mnist`).
    out_dir : str or Path, optional
        Keep the PNG files here, with ``truth.json`` (file name -> digits) (default: a
        temporary directory, removed).

    Returns
    -------
    SegmentationResults
    """
    from PIL import Image
    from scipy import ndimage

    net = as_classifier(net)
    t_all = time.perf_counter()
    mnist = mnist if mnist is not None else load_mnist(data_dir, dtype="float32")
    (X, y), train_images = mnist[2], mnist[0][0]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    sep_idx = order[:6 * n_lines].reshape(n_lines, 6)
    pair_idx = order[6 * n_lines:6 * n_lines + 2 * n_pairs].reshape(n_pairs, 2)
    tmp = None
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory()
        out_dir = tmp.name
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    truth_of = {}
    try:
        for name, groups in (("separated", sep_idx), ("touching", pair_idx)):
            paths, truths, used, skipped = [], [], [], 0
            for k, idx in enumerate(groups):
                if name == "separated":
                    gaps = rng.integers(4, 17, size=len(idx) - 1)
                    ink, _ = compose_line([X[i] for i in idx], gaps, rng)
                else:
                    made = _touching_pair(X[idx[0]], X[idx[1]], rng, Image, ndimage)
                    if made is None:
                        skipped += 1
                        continue
                    ink, _ = made
                path = out_dir / f"{name}_{k:03d}.png"
                save_page(ink, path)
                paths.append(path)
                truths.append("".join(str(int(y[i])) for i in idx))
                truth_of[path.name] = truths[-1]
                used.extend(idx)
            t0 = time.perf_counter()
            read = [read_digits(p, net).text for p in paths]
            seconds = (time.perf_counter() - t0) / max(1, len(paths))
            n_digits = sum(len(t) for t in truths)
            errors = sum(min(len(t), _edit_distance(r, t)) for r, t in zip(read, truths))
            used = np.array(used)
            clf = net.evaluate((X[used], y[used])) / len(used)
            wrong = [(p.name, t, r) for p, t, r in zip(paths, truths, read) if r != t][:5]
            res = SetResult(name, len(paths), n_digits, 1 - errors / n_digits,
                            float(np.mean([r == t for r, t in zip(read, truths)])), clf, seconds, wrong,
                            skipped)
            results.append(res)
            if verbose:
                print(f"{name}: {len(paths)} lines, digits {100 * res.digit_accuracy:.1f} %, lines "
                      f"{100 * res.line_accuracy:.1f} %, classifier alone {100 * clf:.1f} %", file=sys.stderr)
        example = chapter_example(net, train_images=train_images)
        if tmp is None:
            (out_dir / "truth.json").write_text(json.dumps(truth_of, indent=0) + "\n")
    finally:
        if tmp is not None:
            tmp.cleanup()
    command = f"evaluate_segmentation(seed={seed})"
    return SegmentationResults(results, example, seed, command, time.perf_counter() - t_all)


def markdown_table(results):
    """The README's table of a :class:`SegmentationResults`."""
    lines = [
        "| lines from MNIST's test set | lines | digits | per-digit accuracy | whole lines read "
        "exactly | classifier alone, same digits | ms per line (wall) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results.sets:
        what = {"separated": "separated, 6 digits each", "touching": "touching pairs, 2 digits each"}[s.name]
        lines.append(
            f"| {what} | {s.lines} | {s.digits} | {100 * s.digit_accuracy:.1f} % | "
            f"{100 * s.line_accuracy:.1f} % | {100 * s.classifier_accuracy:.1f} % | "
            f"{1000 * s.seconds_per_line:.0f} |"
        )
    lines.append("")
    lines.extend(
        f"Of {s.lines + s.skipped} {s.name} pairs drawn, {s.skipped} were skipped: their ink "
        "would touch only with the boxes overlapping by more than 40 % of the narrower digit."
        for s in results.sets if s.skipped
    )
    lines.append(f'The chapter\'s example, the first six MNIST training images side by side, reads '
                 f'"{results.chapter_example}". Generated by `{results.command}` '
                 f'({results.seconds:.0f} s).')
    return "\n".join(lines) + "\n"


def add_arguments(parser):
    """Add ``reproduce segmentation``'s own options to the ``reproduce`` parser
    (``--seeds``, ``--quick``, ``--data-dir`` and ``--json`` are shared with chapter1)."""
    parser.add_argument("--model", default=None,
                        help="segmentation: the classifier (default: the bundled model)")
    parser.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                        help="segmentation: keep the composed PNG lines and truth.json in DIR")


def run_cli(args):
    """``fastnn reproduce segmentation [--quick] [--seeds S] [--model M] [--out-dir D] [--json P]``."""
    seeds = args.seeds or [0]
    if len(seeds) != 1 or seeds[0] < 0:
        raise ValueError(f"reproduce segmentation takes one non-negative seed, got --seeds {seeds}")
    n_lines, n_pairs = (20, 40) if args.quick else (200, 400)
    results = evaluate_segmentation(args.model, n_lines=n_lines, n_pairs=n_pairs, seed=seeds[0],
                                    data_dir=args.data_dir, out_dir=args.out_dir)
    results.command = "fastnn reproduce segmentation" + (" --quick" if args.quick else "") + (
        f" --seeds {seeds[0]}" if seeds[0] else "")
    print(markdown_table(results), end="")
    if args.json is not None:
        results.to_json(args.json)
        print(f"saved {args.json}", file=sys.stderr)
    return 0
