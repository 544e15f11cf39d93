"""Reading digits from your own images: MNIST's preparation, and segmenting a line.

Chapter 1 splits reading handwriting in two: *segmentation*, breaking an image of many
digits into single digits, and *classification* of each one. A network trained on MNIST
only reads digits prepared the way MNIST's were, so :func:`to_mnist` repeats that
preparation on any image, and :func:`read_digits` segments a line of digits the way the
chapter sketches (try many segmentations, keep the one the classifier is most confident
about), with the trial segmentations searched by dynamic programming.

MNIST's preparation (LeCun, Cortes and Burges, http://yann.lecun.com/exdb/mnist/): "The
original black and white (bilevel) images from NIST were size normalized to fit in a 20x20
pixel box while preserving their aspect ratio. The resulting images contain grey levels as a
result of the anti-aliasing technique used by the normalization algorithm. The images were
centered in a 28x28 image by computing the center of mass of the pixels, and translating the
image so as to position this point at the center of the 28x28 field." Measured on MNIST's
training images: the long side of the ink's bounding box is 20 pixels in 99.96 % of them,
and the centre of mass lies within half a pixel of (row 14, column 14) in every one (an
integer translation), which is what :func:`to_mnist` does.

Pillow reads the images and does the resizing; :mod:`scipy.ndimage` labels connected
components and computes centres of mass. Both are the ``images`` extra::

    pip install "fastnn[images]"
"""

import dataclasses
import functools
import math
import os
import sys
import warnings
from importlib import resources

import numpy as np

from fastnn._io import atomic_write
from fastnn.network import load
from fastnn.validation import check_output_path

__all__ = [
    "to_mnist",
    "read_digits",
    "default_model",
    "as_classifier",
    "draw_digits",
    "Digit",
    "DigitsResult",
    "ImageError",
    "NoInkError",
    "MNIST_BOX",
    "MNIST_SIZE",
]

#: Side of the square the ink is scaled to fit, preserving its aspect ratio.
MNIST_BOX = 20
#: Side of the image the box is centred in, by its centre of mass.
MNIST_SIZE = 28
#: Where the centre of mass goes (row, column), zero-based: MNIST's own (see above).
MNIST_CENTRE = (14.0, 14.0)
#: Images larger than this on a side are first reduced (box filter) to this size.
MAX_WORKING_SIDE = 4096
#: Ink whose contrast with the background is below this (fraction of the full range)
#: does not count: an image with nothing above it holds no ink.
MIN_CONTRAST = 0.1
#: Background noise (robust standard deviation of the border) times this is the noise floor.
NOISE_SIGMAS = 4.0
#: Pixels at least this bright (after normalising the ink to [0, 1]) form components.
COMPONENT_THRESHOLD = 0.25

_EXTRA = 'reading images needs Pillow and SciPy: pip install "fastnn[images]"'
# ITU-R 601-2 luma, what Pillow's convert("L") uses.
_LUMA = np.array([0.299, 0.587, 0.114])


class ImageError(ValueError):
    """An image that cannot be read as digits (unreadable, too large, wrong shape)."""


class NoInkError(ImageError):
    """An image holding no ink: uniform, or contrast below :data:`MIN_CONTRAST`."""


def _pil():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise ImportError(_EXTRA) from exc
    return Image


def _ndimage():
    try:
        from scipy import ndimage
    except ImportError as exc:  # pragma: no cover
        raise ImportError(_EXTRA) from exc
    return ndimage


# -- reading an image into gray levels -------------------------------------------------
def _open(path):
    """A loaded PIL image from ``path``; refuses decompression bombs instead of warning."""
    Image = _pil()
    from PIL import ImageOps, UnidentifiedImageError

    with open(path, "rb") as f, warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; a warning
        # is easy to miss (and an error under pytest -W error), so both are refused.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(f)
            img.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ImageError(
                f"{path}: refused as a possible decompression bomb: {exc} (raise "
                "PIL.Image.MAX_IMAGE_PIXELS, or set it to None, to read an image you trust)"
            ) from None
        except UnidentifiedImageError:
            raise ImageError(f"{path}: not an image file Pillow can read") from None
        except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
            raise ImageError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from None
    return ImageOps.exif_transpose(img)  # phone photos store their rotation in EXIF


def _composite(lum, alpha):
    """Gray levels of an image with transparency, composited on its own background.

    If the mostly-opaque pixels (alpha >= 0.5) cover at least half the image, they are
    a page and the transparent parts are more of it: the background is their median
    gray. Otherwise the image is strokes on a transparent canvas: the background is
    white under dark strokes and black under light ones (their alpha-weighted mean gray
    decides), so the strokes are ink whatever their colour.
    """
    opaque = alpha >= 0.5
    if opaque.mean() >= 0.5:
        back = float(np.median(lum[opaque]))
    elif alpha.sum() > 0:
        back = 1.0 if float((lum * alpha).sum() / alpha.sum()) < 0.5 else 0.0
    else:
        back = 1.0
    return alpha * lum + (1.0 - alpha) * back


def _gray_from_pil(img):
    """Gray levels in [0, 1] (float32) of a PIL image of any mode."""
    mode = img.mode
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
        return _composite(rgba[..., :3] @ _LUMA, rgba[..., 3]).astype(np.float32)
    if mode.startswith("I;16"):
        return np.asarray(img, dtype=np.float32) / np.float32(65535)
    if mode == "I":  # 32-bit integers: how Pillow may hold 16-bit PNG and TIFF data
        return np.clip(np.asarray(img, dtype=np.float32) / np.float32(65535), 0.0, 1.0)
    if mode == "F":
        return _gray_from_array(np.asarray(img), "image")
    return np.asarray(img.convert("L"), dtype=np.float32) / np.float32(255)


def _gray_from_array(a, name):
    """Gray levels in [0, 1] (float32) of a 2-D or (H, W, 3|4) array."""
    a = np.asarray(a)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"{name} must be a 2-D gray image or an (H, W, 3|4) RGB(A) array, got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(f"{name} is empty (shape {a.shape})")
    if a.dtype == np.bool_:
        a = a.astype(np.float64)
    elif a.dtype == np.uint8:
        a = a / 255.0
    elif a.dtype == np.uint16:
        a = a / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise ImageError(f"{name} holds NaN or infinite values")
        if a.min() < 0 or a.max() > 1:
            raise ImageError(
                f"{name}: float images must hold values in [0, 1], got [{a.min():.4g}, {a.max():.4g}]"
            )
    else:
        raise ImageError(f"{name} must be uint8, uint16, bool or float in [0, 1], got dtype {a.dtype}")
    if a.ndim == 3:
        lum = a[..., :3] @ _LUMA
        a = _composite(lum, a[..., 3]) if a.shape[2] == 4 else lum
    return a.astype(np.float32)


def _read_gray(image):
    """``(gray, name, scale)``: gray levels in [0, 1] at working size, a name for
    messages, and the factor from working to original pixel coordinates."""
    Image = _pil()
    if isinstance(image, (str, os.PathLike)):
        name = str(image)
        img = _open(image)
    elif isinstance(image, Image.Image):
        name = getattr(image, "filename", "") or f"<PIL image {image.width}x{image.height}>"
        img = image
    elif isinstance(image, np.ndarray):
        name = f"<array of shape {image.shape}>"
        img = None
    else:
        raise TypeError(
            f"image must be a path, a PIL.Image.Image or a NumPy array, got {type(image).__name__}"
        )
    scale = 1.0
    if img is not None:
        if img.width < 1 or img.height < 1:
            raise ImageError(f"{name} is empty ({img.width}x{img.height})")
        side = max(img.width, img.height)
        if side > MAX_WORKING_SIDE:
            scale = side / MAX_WORKING_SIDE
            size = (max(1, round(img.width / scale)), max(1, round(img.height / scale)))
            if img.mode not in ("L", "RGB", "RGBA", "LA", "F", "I", "I;16"):
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            img = img.resize(size, Image.Resampling.BOX)
        gray = _gray_from_pil(img)
    else:
        gray = _gray_from_array(image, name)
        side = max(gray.shape)
        if side > MAX_WORKING_SIDE:
            scale = side / MAX_WORKING_SIDE
            size = (max(1, round(gray.shape[1] / scale)), max(1, round(gray.shape[0] / scale)))
            gray = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX), dtype=np.float32)
    return gray, name, scale


def _ink(gray, name):
    """Ink made bright on a dark (zero) background, scaled to [0, 1].

    The background level is the median of the border pixels (the outermost row and
    column on each side); its noise is their robust standard deviation (1.4826 times
    the median absolute deviation). The ink lies on the side of the background with
    more total contrast beyond the noise floor (``NOISE_SIGMAS`` noise deviations):
    darker for dark ink on light paper, brighter for chalk on a blackboard. Contrast
    with the background up to the noise floor becomes 0; the rest is divided by the
    largest contrast, so the darkest ink is 1.

    Returns ``(ink, (row, column))``: the ink cropped to its bounding box plus 2 pixels
    (float32) and where that crop starts in ``gray``.

    Raises
    ------
    NoInkError
        Nothing differs from the background by :data:`MIN_CONTRAST` or more.
    """
    if gray.shape[0] <= 2 or gray.shape[1] <= 2:
        border = gray.ravel()
    else:
        border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    back = float(np.median(border))
    noise = 1.4826 * float(np.median(np.abs(border - back)))
    floor = max(NOISE_SIGMAS * noise, 1e-6)
    diff = gray - np.float32(back)
    dark = float(np.clip(-diff - floor, 0, None).sum(dtype=np.float64))
    bright = float(np.clip(diff - floor, 0, None).sum(dtype=np.float64))
    if dark > bright:
        np.negative(diff, out=diff)
    ink = diff
    peak = float(ink.max())
    if peak < MIN_CONTRAST or peak <= floor:
        raise NoInkError(
            f"{name}: no ink found: nothing differs from the background ({back:.3g}) by "
            f"{MIN_CONTRAST:g} of the full range or more (largest contrast {max(peak, 0.0):.3g})"
        )
    ink[ink <= floor] = 0.0
    ink /= np.float32(peak)
    # Crop to the ink (and a margin) so that the rest works on the digits, not the page.
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    r0, c0 = max(0, rows[0] - 2), max(0, cols[0] - 2)
    return ink[r0:rows[-1] + 3, c0:cols[-1] + 3], (int(r0), int(c0))


# -- MNIST's preparation ----------------------------------------------------------------
def _mnist_field(ink):
    """The 28x28 MNIST field (float32) of one digit's ink (2-D, bright on 0)."""
    Image = _pil()
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    s = MNIST_BOX / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    # Downscaling averages each output pixel's area (anti-aliasing, as NIST's bilevel
    # digits became gray levels); upscaling a tiny image interpolates bilinearly.
    resample = Image.Resampling.BOX if s <= 1 else Image.Resampling.BILINEAR
    box = np.asarray(Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32)).resize(size, resample))
    box = np.clip(box, 0.0, 1.0)
    total = box.sum(dtype=np.float64)
    r = float(box.sum(axis=1) @ np.arange(size[1])) / total
    c = float(box.sum(axis=0) @ np.arange(size[0])) / total
    top = math.floor(MNIST_CENTRE[0] - r + 0.5)
    left = math.floor(MNIST_CENTRE[1] - c + 0.5)
    pad = MNIST_SIZE
    canvas = np.zeros((MNIST_SIZE + 2 * pad, MNIST_SIZE + 2 * pad), dtype=np.float32)
    canvas[pad + top:pad + top + size[1], pad + left:pad + left + size[0]] = box
    return canvas[pad:pad + MNIST_SIZE, pad:pad + MNIST_SIZE]


def _drop_specks(ink, fraction=0.02, distance=0.3):
    """``ink`` without specks: connected pieces holding under ``fraction`` of the ink
    that lie farther than ``distance`` times the rest's long side from its bounding box.

    Faint pieces near a digit are kept: MNIST's own digits have them (remnants of the
    anti-aliasing), and removing them would move the crop.
    """
    ndimage = _ndimage()
    labels, n = ndimage.label(ink > 0, structure=np.ones((3, 3)))
    if n <= 1:
        return ink
    mass = ndimage.sum_labels(ink, labels, index=np.arange(1, n + 1))
    small = mass < fraction * mass.sum()
    if small.all() or not small.any():
        return ink
    slices = ndimage.find_objects(labels)
    big = [slices[i] for i in np.flatnonzero(~small)]
    r0, r1 = min(s[0].start for s in big), max(s[0].stop for s in big)
    c0, c1 = min(s[1].start for s in big), max(s[1].stop for s in big)
    reach = distance * max(r1 - r0, c1 - c0)
    drop = np.zeros(n + 1, dtype=bool)
    for i in np.flatnonzero(small):
        rs, cs = slices[i]
        dr = max(r0 - rs.stop, rs.start - r1, 0)
        dc = max(c0 - cs.stop, cs.start - c1, 0)
        drop[i + 1] = math.hypot(dr, dc) > reach
    return np.where(drop[labels], 0.0, ink).astype(ink.dtype)


def to_mnist(image, *, dtype="float64"):
    """Prepare one digit as MNIST's were prepared, for ``net.feedforward``.

    Steps: gray levels (RGB by ITU-R 601-2 luma; transparency composited on the image's
    own background, see Notes); ink made bright on dark whatever the polarity; specks
    far from the digit dropped; cropped to the ink; scaled to fit a 20x20 box
    preserving the aspect ratio (area averaging, i.e. anti-aliased, when shrinking;
    bilinear when enlarging); placed in a 28x28 field so that its centre of mass is at
    pixel (14, 14), translated by whole pixels, as MNIST's were.

    Parameters
    ----------
    image : str, os.PathLike, PIL.Image.Image or ndarray
        A file Pillow reads (PNG, JPEG, TIFF, BMP, GIF, ...; 1-, 8- and 16-bit gray,
        palette, RGB, RGBA), a PIL image, or an array of shape (H, W), (H, W, 3) or
        (H, W, 4): uint8, uint16, bool, or float with values in [0, 1].
    dtype : {"float64", "float32"}, default "float64"

    Returns
    -------
    ndarray of shape (784,)
        Row-major 28x28 pixels in [0, 1], ink bright on a zero background, like a row
        of :func:`fastnn.load_mnist`'s ``X``; ``.reshape(28, 28)`` to view it.

    Raises
    ------
    NoInkError
        The image holds no ink (uniform, or contrast below :data:`MIN_CONTRAST`); the
        message names the image.
    ImageError
        Unreadable file, decompression bomb (more pixels than Pillow's
        ``PIL.Image.MAX_IMAGE_PIXELS``; an error here, not Pillow's warning), or an
        array of the wrong shape, dtype or range.
    TypeError
        ``image`` is none of the kinds above.
    FileNotFoundError
        No file at the path.

    Notes
    -----
    Polarity: the background is the median of the image's border pixels; the ink is on
    the side of it (darker or lighter) with more total contrast, so both dark ink on
    light paper and light ink on dark are read. Specks: pieces of ink holding under 2 %
    of it and farther from the rest than 0.3 times its long side are dust, not digit.
    Transparency: when the opaque pixels
    cover most of the image they are the page, and transparent parts take its median
    gray; otherwise the image is strokes on a transparent canvas, composited on white
    for dark strokes and on black for light ones. Images larger than
    :data:`MAX_WORKING_SIDE` pixels on a side are first reduced by area averaging.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnn.images import to_mnist
    >>> page = np.ones((60, 40))            # white paper
    >>> page[10:50, 15:25] = 0.0            # a black bar: a "1"
    >>> x = to_mnist(page)
    >>> x.shape, float(x.max())
    ((784,), 1.0)
    >>> rows = np.flatnonzero(x.reshape(28, 28).any(axis=1))
    >>> int(rows[0]), int(rows[-1])         # 20 rows, centre of mass 14.5: within half a pixel of 14
    (5, 24)
    """
    dtype = _check_dtype(dtype)
    gray, name, _ = _read_gray(image)
    ink, _ = _ink(gray, name)
    return _mnist_field(_drop_specks(ink)).ravel().astype(dtype)


def _check_dtype(dtype):
    if dtype not in ("float64", "float32", np.float64, np.float32):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return np.dtype(dtype)


# -- the default model ------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def default_model():
    """The network bundled with fastnn, trained by ``tools/train_default_model.py``.

    A 784-100-10 sigmoid network of Chapter 1 (quadratic cost, SGD), float32, read with
    :func:`fastnn.load` from ``fastnn/models/default.npz``; its training settings and
    test accuracy are in the README. Loaded once and cached.

    Returns
    -------
    Network
    """
    resource = resources.files("fastnn.models").joinpath("default.npz")
    with resources.as_file(resource) as path:
        return load(path)


def as_classifier(net):
    """The MNIST classifier ``net`` stands for: :func:`default_model` for None, the
    network saved at a path, or ``net`` itself, checked to have 784 inputs and 10 outputs.

    Raises
    ------
    TypeError
        ``net`` is neither a Network nor a path.
    ValueError
        Not 784 inputs and 10 outputs.
    """
    if net is None:
        return default_model()
    if isinstance(net, (str, os.PathLike)):
        net = load(net)
    sizes = getattr(net, "sizes", None)
    if sizes is None or not callable(getattr(net, "feedforward", None)):
        raise TypeError(f"net must be a fastnn Network or a path to a saved one, got {type(net).__name__}")
    if sizes[0] != MNIST_SIZE**2 or sizes[-1] != 10:
        raise ValueError(f"net must take 784 inputs and give 10 outputs (an MNIST classifier), got sizes {sizes}")
    return net


# -- results ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Digit:
    """One digit read from an image.

    Attributes
    ----------
    box : tuple of int
        ``(left, top, right, bottom)`` in the image's pixels, right and bottom
        exclusive (PIL's crop box).
    label : int
        The digit, 0-9: the network's largest output.
    confidence : float
        That output, a sigmoid in (0, 1); not a probability. The bundled model was
        also trained on pieces of digits and on pairs with all ten targets 0, so it is
        low for a segment that is no single digit (how segmentations are scored).
    """

    box: tuple
    label: int
    confidence: float


@dataclasses.dataclass(frozen=True)
class DigitsResult:
    """The digits read from one image, left to right.

    Attributes
    ----------
    digits : tuple of Digit
    source : str
        The image's path, or a description of the PIL image or array.
    size : tuple of int
        ``(width, height)`` of the image, in pixels.
    """

    digits: tuple
    source: str
    size: tuple

    @property
    def text(self):
        """The digits as a string, e.g. ``"504192"``."""
        return "".join(str(d.label) for d in self.digits)

    def __str__(self):
        return self.text

    def __len__(self):
        return len(self.digits)

    def __iter__(self):
        return iter(self.digits)

    def __getitem__(self, i):
        return self.digits[i]


def _confidence(outputs):
    """``(labels, confidences)`` of network outputs of shape (n, 10)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    labels = outputs.argmax(axis=1)
    return labels, outputs[np.arange(len(outputs)), labels]


# -- segmentation -----------------------------------------------------------------------
@dataclasses.dataclass
class _Group:
    """Components of one column run (fragments merged), and their cut candidates."""

    labels: list
    x0: int
    x1: int
    cuts: list = dataclasses.field(default_factory=list)


def _components(ink):
    """``(labels, n)``: connected components of the ink (8-connected, above
    :data:`COMPONENT_THRESHOLD`), every ink pixel within 2 pixels of one assigned to it."""
    ndimage = _ndimage()
    labels, n = ndimage.label(ink >= COMPONENT_THRESHOLD, structure=np.ones((3, 3)))
    if n == 0:
        return labels, 0
    # The faint anti-aliased rim goes to a component within 2 pixels (the largest label
    # where two are that close), as MNIST's digits have it.
    near = ndimage.maximum_filter(labels, size=5)
    rim = (labels == 0) & (ink > 0)
    labels[rim] = near[rim]
    return labels, n


def _line_groups(labels, n, ink):
    """Groups of components left to right, specks dropped, overlapping fragments merged;
    and the line's digit height (pixels)."""
    ndimage = _ndimage()
    slices = ndimage.find_objects(labels, max_label=n)
    area = ndimage.sum_labels(ink > 0, labels, index=np.arange(1, n + 1))
    keep = [i for i in range(n) if slices[i] is not None and area[i] >= 0.02 * area.max()]
    if not keep:
        return [], 0
    heights = np.array([slices[i][0].stop - slices[i][0].start for i in keep])
    height = float(np.max(heights))
    comps = sorted((slices[i][1].start, slices[i][1].stop, i + 1) for i in keep)
    groups = []
    for x0, x1, lab in comps:
        if groups:
            g = groups[-1]
            overlap = min(x1, g.x1) - max(x0, g.x0)
            if overlap >= 0.5 * min(x1 - x0, g.x1 - g.x0):
                g.labels.append(lab)
                g.x0, g.x1 = min(g.x0, x0), max(g.x1, x1)
                continue
        groups.append(_Group([lab], x0, x1))
    return groups, height


def _cut_candidates(profile, height):
    """Columns (offsets into ``profile``) where a wide group may be cut: local minima
    of its smoothed column ink profile, away from its ends, at most one per ~h/6."""
    w = len(profile)
    margin = max(2, int(0.15 * height))
    if w < 2 * margin + 1:
        return []
    k = max(1, int(height / 12))
    smooth = np.convolve(profile, np.ones(2 * k + 1) / (2 * k + 1), mode="same")
    cands = [
        x for x in range(margin, w - margin)
        if smooth[x] <= smooth[x - 1] and smooth[x] <= smooth[x + 1]
    ]
    # Thin out runs of equal minima (flat valleys): keep the lowest within h/6.
    spacing = max(2, int(height / 6))
    chosen = []
    for x in sorted(cands, key=lambda x: smooth[x]):
        if all(abs(x - y) >= spacing for y in chosen):
            chosen.append(x)
    if CUT_STEP:
        # Where digits overlap there may be no minimum between them: also cut at steps.
        step = max(2, int(CUT_STEP * height))
        near = max(1, step // 2)
        for x in range(margin, w - margin + 1, step):
            if all(abs(x - y) >= near for y in chosen):
                chosen.append(x)
    return sorted(chosen)


def _segment_ink(gink, x0, x1):
    """``(piece, box)``: the ink of ``gink`` (one group's ink, full rows) within its
    columns [x0, x1), cropped to its rows; ``(None, None)`` if it holds no ink above
    :data:`COMPONENT_THRESHOLD`. ``box`` is in ``gink``'s rows and the given columns."""
    piece = gink[:, x0:x1]
    rows = np.flatnonzero(piece.max(axis=1) > 0)
    if len(rows) == 0 or piece.max() < COMPONENT_THRESHOLD:
        return None, None
    return piece[rows[0]:rows[-1] + 1], (int(rows[0]), int(rows[-1]) + 1)


def _segments(ink, labels, groups, height, max_width, keep=None):
    """Trial segments: ``(i, j, field, box, merged)`` spanning atoms i..j-1.

    Atoms are the pieces of each group between its cuts. A segment is one or more
    consecutive atoms of one group, or several whole consecutive groups (fragments of a
    broken digit) close together; none wider than ``max_width``. ``merged`` counts the
    groups merged beyond the first. ``keep(x0, x1)``, if given, says which column spans
    to prepare (the others are left out; for sampling training examples).
    """
    atoms = []  # (group index, x0, x1)
    for gi, g in enumerate(groups):
        edges = [g.x0, *(g.x0 + c for c in g.cuts), g.x1]
        atoms.extend((gi, a, b) for a, b in zip(edges[:-1], edges[1:]))
    first = {}
    for ai, (gi, _, _) in enumerate(atoms):
        first.setdefault(gi, ai)
    last = {gi: ai for ai, (gi, _, _) in enumerate(atoms)}
    out = []
    n = len(atoms)
    ginks = {}  # the ink of each group's own components, at the group's columns

    def group_ink(g0, g1):
        if (g0, g1) not in ginks:
            x0, x1 = groups[g0].x0, groups[g1].x1
            labs = [lab for g in range(g0, g1 + 1) for lab in groups[g].labels]
            ginks[g0, g1] = (np.where(np.isin(labels[:, x0:x1], labs), ink[:, x0:x1], 0.0), x0)
        return ginks[g0, g1]

    for i in range(n):
        gi, xa, _ = atoms[i]
        for j in range(i + 1, n + 1):
            gj, _, xb = atoms[j - 1]
            if xb - xa > max_width and j > i + 1:
                break
            if gi != gj:
                # Several groups: only whole groups, with small gaps between them.
                if i != first[gi] or j - 1 != last[gj]:
                    continue
                gaps = [groups[g + 1].x0 - groups[g].x1 for g in range(gi, gj)]
                if max(gaps) > 0.2 * height:
                    break
            if keep is not None and not keep(xa, xb):
                continue
            gink, gx0 = group_ink(gi, gj)
            piece, rows = _segment_ink(gink, xa - gx0, xb - gx0)
            if piece is not None:
                out.append((i, j, _mnist_field(piece), (xa, rows[0], xb, rows[1]), gj - gi))
            elif j == i + 1:
                out.append((i, j, None, None, 0))  # a sliver without ink: skipped, score 0
    # Boundary j (between atoms j-1 and j) is a cut through a group, not a gap.
    cut = np.zeros(n + 1, dtype=bool)
    for j in range(1, n):
        cut[j] = atoms[j - 1][0] == atoms[j][0]
    return out, cut


#: Groups wider than this (times the line's digit height) get candidate cuts.
CUT_WIDTH = 0.7
#: Besides the profile's minima, candidate cuts every this many digit heights (0: none).
CUT_STEP = 0.16
#: No trial segment is wider than this (times the line's digit height).
MAX_SEGMENT_WIDTH = 1.3
#: Subtracted for each further group merged into one segment (log units): a prior
#: that separate columns of ink are separate digits, unless a merge reads much better.
MERGE_PENALTY = 1.0


def _scores(conf, segments):
    """The score of each trial segment: the log of the classifier's confidence, less
    :data:`MERGE_PENALTY` per further group merged; 0 for a sliver without ink."""
    scores = np.log(np.maximum(conf, 1e-12))
    for k, (_, _, field, _, merged) in enumerate(segments):
        scores[k] = 0.0 if field is None else scores[k] - MERGE_PENALTY * merged
    return scores


def _best_path(n, segments, scores):
    """Dynamic programming over atom boundaries: the segmentation of atoms 0..n-1 with
    the largest total score, as a list of segment indices (None if none covers them)."""
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    back = [None] * (n + 1)
    by_end = {}
    for k, (i, j, *_) in enumerate(segments):
        by_end.setdefault(j, []).append((i, k))
    for j in range(1, n + 1):
        for i, k in by_end.get(j, ()):
            s = best[i] + scores[k]
            if s > best[j]:
                best[j], back[j] = s, k
    if not np.isfinite(best[n]):
        return None
    path, j = [], n
    while j > 0:
        k = back[j]
        path.append(k)
        j = segments[k][0]
    return path[::-1]


def _trial_segments(ink, name="image", keep=None):
    """``(segments, cut, height)``: every trial segment of a line's ink (see
    :func:`_segments`), which atom boundaries are cuts (``len(cut) - 1`` atoms), and
    the line's digit height."""
    labels, n = _components(ink)
    groups, height = _line_groups(labels, n, ink)
    if not groups:
        raise NoInkError(f"{name}: no ink found: no component of ink above {COMPONENT_THRESHOLD:g}")
    for g in groups:
        if g.x1 - g.x0 > CUT_WIDTH * height:
            profile = np.isin(labels[:, g.x0:g.x1], g.labels).sum(axis=0).astype(np.float64)
            g.cuts = _cut_candidates(profile, height)
    segments, cut = _segments(ink, labels, groups, height, MAX_SEGMENT_WIDTH * height, keep)
    return segments, cut, height


def read_digits(image, net=None, *, single=False):
    """Read a line of handwritten digits: segment it, classify each digit.

    Segmentation follows Chapter 1's sketch: try many segmentations and keep the one
    whose every segment the classifier reads most confidently.

    1. Connected components of the ink (8-connected, above
       :data:`COMPONENT_THRESHOLD`); specks under 2 % of the largest component's area
       are dropped; fragments whose column spans overlap by half the narrower one are
       merged into one group (a broken digit, a 5's detached bar).
    2. Groups wider than :data:`CUT_WIDTH` times the line's digit height h (the tallest
       component) may be touching digits: candidate cuts are the local minima of their
       column ink profile and, as overlapping digits leave no minimum between them,
       columns every :data:`CUT_STEP` h, all at least 0.15 h from the group's ends.
    3. A trial segment is a run of pieces between cuts of one group, or several whole
       neighbouring groups less than 0.2 h apart (a digit broken side by side), at most
       :data:`MAX_SEGMENT_WIDTH` h wide. Each is prepared as MNIST's digits were
       (:func:`to_mnist`'s box and centring) and all are classified in one
       ``net.feedforward`` call.
    4. A segment's score is the log of the classifier's confidence (its largest
       output), less :data:`MERGE_PENALTY` per extra group merged. Dynamic programming
       over the cut positions finds the segmentation with the largest total score:
       the best segmentation ending at each cut is the best over the segments ending
       there of (best ending at the segment's start + its score), so the work grows with
       the number of cuts times the bounded segment width, not with the number of
       segmentations (exponential in the cuts).

    The bundled model was trained with pieces of digits and merged pairs as examples
    of no digit (all targets 0, see ``tools/train_default_model.py``), which is what
    makes its confidence a good judge of a segment. One line of digits is read; a page of
    several lines is not split into lines.

    Parameters
    ----------
    image : str, os.PathLike, PIL.Image.Image or ndarray
        One line of digits, any polarity; see :func:`to_mnist` for the kinds read.
    net : Network or path, optional
        A classifier with 784 inputs and 10 outputs; default :func:`default_model`.
    single : bool, default False
        Treat the whole image as one digit (:func:`to_mnist`, then classify).

    Returns
    -------
    DigitsResult
        ``.text`` (also ``str(result)``) the digits read, ``.digits`` one
        :class:`Digit` (box, label, confidence) per digit, left to right.

    Raises
    ------
    NoInkError
        The image holds no ink.
    ImageError, TypeError, FileNotFoundError
        As :func:`to_mnist`.
    ValueError
        ``net`` is not an MNIST classifier (784 inputs, 10 outputs).

    Examples
    --------
    >>> import fastnn
    >>> (X, y), _, _ = fastnn.load_mnist()                  # doctest: +SKIP
    >>> line = np.hstack([x.reshape(28, 28) for x in X[:6]])  # doctest: +SKIP
    >>> fastnn.read_digits(line).text                       # doctest: +SKIP
    '504192'
    """
    net = as_classifier(net)
    gray, name, scale = _read_gray(image)
    ink, (r0, c0) = _ink(gray, name)
    size = (round(gray.shape[1] * scale), round(gray.shape[0] * scale))

    def to_box(b):  # from the ink crop to the image's pixels
        b = (b[0] + c0, b[1] + r0, b[2] + c0, b[3] + r0)
        return tuple(round(v * scale) for v in b)

    if single:
        ink = _drop_specks(ink)
        rows = np.flatnonzero(ink.any(axis=1))
        cols = np.flatnonzero(ink.any(axis=0))
        box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        labels, conf = _confidence(np.atleast_2d(net.feedforward(_mnist_field(ink).ravel())))
        return DigitsResult((Digit(to_box(box), int(labels[0]), float(conf[0])),), name, size)

    segments, cut, _ = _trial_segments(ink, name)
    real = [k for k, s in enumerate(segments) if s[2] is not None]
    out_labels = np.zeros(len(segments), dtype=np.int64)
    conf = np.ones(len(segments))
    X = np.stack([segments[k][2].ravel() for k in real])
    out_labels[real], conf[real] = _confidence(np.atleast_2d(net.feedforward(X)))
    scores = _scores(conf, segments)
    path = _best_path(len(cut) - 1, segments, scores)
    digits = tuple(
        Digit(to_box(segments[k][3]), int(out_labels[k]), float(conf[k]))
        for k in path if segments[k][2] is not None
    )
    return DigitsResult(digits, name, size)


# -- drawing and the command line -------------------------------------------------------
def draw_digits(image, result, *, min_height=160):
    """The image with each digit's box and label drawn (Pillow's ImageDraw).

    Parameters
    ----------
    image : str, os.PathLike, PIL.Image.Image or ndarray
        The image ``result`` was read from.
    result : DigitsResult
    min_height : int, default 160
        Small images are enlarged (nearest neighbour, by a whole factor) to at least
        this many rows so the labels can be read.

    Returns
    -------
    PIL.Image.Image
        RGB: the image (its gray levels, transparency composited as when read), red
        boxes, and above each box the label and its confidence.
    """
    Image = _pil()
    from PIL import ImageDraw, ImageFont

    gray, _, scale = _read_gray(image)
    base = Image.fromarray(np.round(255 * gray).astype(np.uint8)).convert("RGB")
    if scale != 1:
        base = base.resize(result.size, Image.Resampling.BILINEAR)
    k = max(1, math.ceil(min_height / base.height))
    k = min(k, max(1, 8000 // base.width))
    base = base.resize((base.width * k, base.height * k), Image.Resampling.NEAREST)
    font_size = max(12, min(48, base.height // 8))
    font = ImageFont.load_default(size=font_size)
    pad = font_size + 6
    canvas = Image.new("RGB", (base.width, base.height + pad), "white")
    canvas.paste(base, (0, pad))
    draw = ImageDraw.Draw(canvas)
    for d in result.digits:
        left, top, right, bottom = (v * k for v in d.box)
        draw.rectangle((left, top + pad, right - 1, bottom - 1 + pad), outline=(220, 0, 0), width=max(1, k // 2))
        draw.text((left, max(0, top + pad - font_size - 4)), f"{d.label} {d.confidence:.2f}",
                  fill=(220, 0, 0), font=font)
    return canvas


def _cmd_predict(args):
    if args.show is not None and len(args.images) != 1:
        raise ValueError(f"--show draws one image; got {len(args.images)} IMAGE arguments")
    check_output_path(args.show, "--show")
    net = as_classifier(args.model)
    status = 0
    for path in args.images:
        try:
            result = read_digits(path, net, single=args.single)
        except (ImageError, OSError) as exc:
            print(f"fastnn predict: error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}: {result.text}")
        for d in result.digits:
            print(f"  {d.label}  confidence {d.confidence:.3f}  box {d.box}")
        if args.show is not None:
            with atomic_write(args.show) as (f, _):
                draw_digits(path, result).save(f, format="PNG")
            print(f"wrote {args.show}")
    return status


def register_cli(subparsers):
    """Add the ``predict`` command to the ``fastnn`` command's subparsers.

    ``fastnn predict [--model MODEL] [--single] [--show OUT.png] IMAGE [IMAGE ...]``
    prints each image's digits, then one line per digit (label, confidence, box).
    """
    p = subparsers.add_parser(
        "predict",
        help="read the digits in your own images (a line of digits each, or --single)",
        description="Read a line of handwritten digits in each IMAGE (any polarity; PNG, JPEG, "
        "TIFF, ...) with a network trained on MNIST, and print them with each digit's "
        "confidence and box (left, top, right, bottom).",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--model", default=None,
                   help="a network saved by fastnn train --save (default: the bundled 784-100-10)")
    p.add_argument("--single", action="store_true", help="treat each image as one digit")
    p.add_argument("--show", metavar="OUT.png", default=None,
                   help="write the image with the boxes and labels drawn (one IMAGE)")
    p.set_defaults(func=_cmd_predict)
    return p
