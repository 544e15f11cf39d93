"""fastnn.images: MNIST's preparation of real image files, segmentation, ``fastnn predict``.

Every image here is a real file written by Pillow and read back through the public path.
The reference is MNIST itself: a digit rendered to an image (enlarged four times, by
whole pixels, and inverted to dark ink on white) must come back from :func:`to_mnist` as
the MNIST digit it was made from. Why that is achievable, and the tolerance: MNIST's
digits are already prepared (the ink's long side is 20 pixels in 99.96 % of them and the
centre of mass is at (14, 14) to within half a pixel), so cropping the enlarged digit
gives exactly 4x its 20-pixel box, shrinking by 4 with area averaging gives back the
original pixels, and the integer centring puts them where they were. The only change
left is the contrast stretch (the darkest ink becomes 1, and MNIST's darkest is 254/255
or 255/255), so every pixel agrees to within 1/255 (plus float rounding).
"""

import math

import numpy as np
import pytest
from PIL import Image  # the images extra, part of the test extra

import fastnn
from fastnn import images
from fastnn.images import ImageError, NoInkError, read_digits, to_mnist

TOL = 1 / 255 + 1e-6


@pytest.fixture(scope="module")
def test_digits(mnist):
    """The first 50 MNIST test images (float64, in [0, 1]) and labels."""
    _, _, (X, y) = mnist
    return X[:50], y[:50]


@pytest.fixture(scope="module")
def net():
    return images.default_model()


def _uint8(x):
    return np.round(255 * x.reshape(28, 28)).astype(np.uint8)


def _rendered(x, k=4):
    """Ink as a dark-on-white uint8 image enlarged k times by whole pixels."""
    return np.kron(255 - _uint8(x), np.ones((k, k), dtype=np.uint8))


def _opened(path):
    """A copy of the image at ``path`` (the file closed again)."""
    with Image.open(path) as img:
        img.load()
        return img.copy()


def _save(array_or_image, path, **kw):
    img = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    img.save(path, **kw)
    return path


# -- to_mnist -----------------------------------------------------------------------------
def test_round_trip_equals_the_mnist_digit(tmp_path, test_digits):
    X, _ = test_digits
    for i, x in enumerate(X):
        path = _save(_rendered(x), tmp_path / f"digit{i}.png")
        out = to_mnist(path)
        assert out.shape == (784,) and out.dtype == np.float64
        np.testing.assert_allclose(out, x, atol=TOL, rtol=0, err_msg=f"test digit {i}")


def test_both_polarities_give_the_same_digit(tmp_path, test_digits):
    x = test_digits[0][3]
    dark_on_light = to_mnist(_save(_rendered(x), tmp_path / "dark.png"))
    light_on_dark = to_mnist(_save(255 - _rendered(x), tmp_path / "light.png"))
    np.testing.assert_allclose(dark_on_light, light_on_dark, atol=1e-6, rtol=0)  # float32 rounding
    np.testing.assert_allclose(light_on_dark, x, atol=TOL, rtol=0)


def test_mid_gray_paper_with_darker_ink(tmp_path, test_digits):
    # Paper at 40 % gray (darker than half): the ink is the side with more contrast.
    x = test_digits[0][5]
    a = np.kron(x.reshape(28, 28), np.ones((4, 4)))
    page = np.round(255 * (0.4 - 0.4 * a)).astype(np.uint8)
    out = to_mnist(_save(page, tmp_path / "gray.png"))
    np.testing.assert_allclose(out, x, atol=2.5 / 255 / 0.4, rtol=0)


def test_rgb_colored_ink_on_tinted_paper(tmp_path, test_digits):
    x = test_digits[0][7]
    a = np.kron(x.reshape(28, 28), np.ones((4, 4)))[..., None]
    paper, ink = np.array([250, 240, 200]), np.array([20, 30, 140])  # blue ink, cream paper
    rgb = np.round(paper * (1 - a) + ink * a).astype(np.uint8)
    path = _save(rgb, tmp_path / "rgb.png")
    assert _opened(path).mode == "RGB"
    # luma contrast 0.89 of the range; each channel rounded to 1/255
    np.testing.assert_allclose(to_mnist(path), x, atol=1.5 / 255 / 0.89, rtol=0)


@pytest.mark.parametrize("stroke", [(0, 0, 0), (255, 255, 255), (200, 30, 30)])
def test_rgba_strokes_on_a_transparent_canvas(tmp_path, test_digits, stroke):
    x = test_digits[0][9]
    alpha = np.kron(_uint8(x), np.ones((4, 4), dtype=np.uint8))
    rgba = np.zeros(alpha.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = stroke  # colour everywhere; only the alpha draws the digit
    rgba[..., 3] = alpha
    path = _save(rgba, tmp_path / "rgba.png")
    assert _opened(path).mode == "RGBA"
    lum = float(np.dot(stroke, images._LUMA)) / 255
    contrast = max(lum, 1 - lum)  # composited on white (dark strokes) or black
    np.testing.assert_allclose(to_mnist(path), x, atol=1.5 / 255 / contrast, rtol=0)


def test_rgba_opaque_page_with_a_transparent_margin(tmp_path, test_digits):
    # A scanned page (opaque white paper, black ink) pasted on a transparent canvas:
    # the transparent margin is more paper, not ink.
    x = test_digits[0][11]
    page = _rendered(x)
    rgba = np.zeros((page.shape[0] + 40, page.shape[1] + 40, 4), dtype=np.uint8)
    rgba[20:-20, 20:-20, :3] = page[..., None]
    rgba[20:-20, 20:-20, 3] = 255
    out = to_mnist(_save(rgba, tmp_path / "margin.png"))
    np.testing.assert_allclose(out, x, atol=TOL, rtol=0)


def test_16_bit_grayscale(tmp_path, test_digits):
    x = test_digits[0][13]
    a16 = np.kron(np.round(65535 * (1 - x.reshape(28, 28))).astype(np.uint16), np.ones((4, 4), dtype=np.uint16))
    path = _save(a16, tmp_path / "gray16.png")
    assert _opened(path).mode.startswith("I")
    assert np.asarray(_opened(path)).max() > 255  # really 16 bits on disk
    np.testing.assert_allclose(to_mnist(path), x, atol=TOL, rtol=0)


def test_huge_image_is_reduced_and_read(tmp_path, test_digits, net):
    # 4200 x 700: a digit 20x larger than MNIST's (560 px) at the left of a wide page,
    # reduced to MAX_WORKING_SIDE (4096) first; not exact (a non-integer reduction).
    x, label = test_digits[0][0], test_digits[1][0]
    digit = np.kron(255 - _uint8(x), np.ones((20, 20), dtype=np.uint8))
    page = np.full((700, 4200), 255, dtype=np.uint8)
    page[50:610, 150:710] = digit
    path = _save(page, tmp_path / "huge.png")
    out = to_mnist(path)
    assert np.abs(out - x).mean() < 0.02
    assert int(np.argmax(net.feedforward(out))) == label
    r = read_digits(path, net)
    assert r.text == str(label) and r.size == (4200, 700)
    rows, cols = np.flatnonzero((page < 255).any(axis=1)), np.flatnonzero((page < 255).any(axis=0))
    want = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)  # the ink's box in the original pixels
    assert np.abs(np.subtract(r.digits[0].box, want)).max() <= 4200 / 4096 * 2


def test_decompression_bomb_is_an_error(tmp_path, monkeypatch):
    path = _save(np.full((100, 100), 255, dtype=np.uint8), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # warns above 5000, raises above 10000
    with pytest.raises(ImageError, match="decompression bomb"):
        to_mnist(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 9000)
    with pytest.raises(ImageError, match=r"bomb\.png"):
        to_mnist(path)


def test_tiny_image(tmp_path, test_digits):
    # A 7x7 thumbnail of a digit: enlarged to the 20-pixel box and centred.
    x = test_digits[0][1]
    small = Image.fromarray(255 - _uint8(x)).resize((7, 7), Image.Resampling.BOX)
    out = to_mnist(_save(small, tmp_path / "tiny.png")).reshape(28, 28)
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20
    from scipy import ndimage

    r, c = ndimage.center_of_mass(out)
    assert abs(r - 14) <= 0.5 and abs(c - 14) <= 0.5
    # a single dark pixel on a 3x3 white image is a digit: the full box
    one = np.full((3, 3), 255, dtype=np.uint8)
    one[1, 1] = 0
    dot = to_mnist(_save(one, tmp_path / "dot.png")).reshape(28, 28)
    rows, cols = np.flatnonzero(dot.any(axis=1)), np.flatnonzero(dot.any(axis=0))
    assert dot.sum() == 400 and len(rows) == len(cols) == 20  # a full 20x20 block of 1s
    assert abs(ndimage.center_of_mass(dot)[0] - 14) <= 0.5


def test_empty_page(tmp_path):
    path = _save(np.full((300, 200), 250, dtype=np.uint8), tmp_path / "blank.png")
    with pytest.raises(NoInkError, match=r"blank\.png: no ink found"):
        to_mnist(path)
    with pytest.raises(NoInkError, match=r"blank\.png: no ink found"):
        read_digits(path)
    # faint noise below MIN_CONTRAST is not ink either
    rng = np.random.default_rng(0)
    noisy = np.clip(250 + rng.normal(0, 3, (300, 200)), 0, 255).astype(np.uint8)
    with pytest.raises(NoInkError, match=r"noisy\.png"):
        to_mnist(_save(noisy, tmp_path / "noisy.png"))
    transparent = np.zeros((50, 50, 4), dtype=np.uint8)
    with pytest.raises(NoInkError):
        to_mnist(_save(transparent, tmp_path / "transparent.png"))


def test_arrays_and_pil_images_match_files(tmp_path, test_digits):
    x = test_digits[0][2]
    page = _rendered(x)
    from_file = to_mnist(_save(page, tmp_path / "p.png"))
    np.testing.assert_allclose(to_mnist(page), from_file, atol=1e-6, rtol=0)
    np.testing.assert_allclose(to_mnist(Image.fromarray(page)), from_file, atol=1e-6, rtol=0)
    np.testing.assert_allclose(to_mnist(page / 255.0), from_file, atol=1e-6)
    assert to_mnist(page, dtype="float32").dtype == np.float32


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.zeros((4, 4, 2), dtype=np.uint8), ImageError, r"\(H, W, 3\|4\)"),
        (np.zeros((0, 4), dtype=np.uint8), ImageError, "empty"),
        (np.full((4, 4), 2.0), ImageError, r"values in \[0, 1\]"),
        (np.full((4, 4), np.nan), ImageError, "NaN"),
        (np.zeros((4, 4), dtype=np.int32), ImageError, "dtype int32"),
        ([[0, 1], [1, 0]], TypeError, "got list"),
    ],
)
def test_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        to_mnist(bad)


def test_bad_files_and_nets(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageError, match=r"notes\.png: not an image file"):
        to_mnist(text)
    with pytest.raises(FileNotFoundError):
        to_mnist(tmp_path / "missing.png")
    page = np.full((30, 30), 255, dtype=np.uint8)
    page[5:25, 12:16] = 0
    with pytest.raises(ValueError, match="784 inputs and give 10 outputs"):
        read_digits(page, fastnn.Network([784, 5, 3], seed=0))
    with pytest.raises(TypeError, match="net must be"):
        read_digits(page, net=3)
    with pytest.raises(ValueError, match="dtype must be"):
        to_mnist(page, dtype="int8")


# -- read_digits --------------------------------------------------------------------------
def test_chapter_example_reads_504192(mnist, tmp_path, net):
    from fastnn.book.segmentation import chapter_example

    assert chapter_example(net, out=tmp_path / "504192.png", train_images=mnist[0][0]) == "504192"
    result = read_digits(tmp_path / "504192.png")  # the default model, from package data
    assert result.text == str(result) == "504192"
    assert len(result) == 6 and [d.label for d in result] == [5, 0, 4, 1, 9, 2]
    # each box lies within its own 28-pixel cell of the line (4 pixels of margin)
    for k, d in enumerate(result.digits):
        left, top, right, bottom = d.box
        assert 4 + 28 * k <= left < right <= 4 + 28 * (k + 1)
        assert 0.0 < d.confidence <= 1.0


def test_separated_line_boxes_match_the_digits(test_digits, net):
    from fastnn.book.segmentation import compose_line

    X, y = test_digits
    idx = [0, 1, 2, 3, 4, 6, 8, 10]  # digits the classifier reads alone
    ink, boxes = compose_line([X[i] for i in idx], [12] * (len(idx) - 1), np.random.default_rng(1))
    result = read_digits(1 - ink, net)  # dark on light, as an array
    assert result.text == "".join(str(y[i]) for i in idx)
    for d, (l, t, r, b) in zip(result.digits, boxes):
        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
        assert l <= cx <= r and t <= cy <= b


def test_single(tmp_path, test_digits, net):
    x, label = test_digits[0][0], test_digits[1][0]
    path = _save(_rendered(x), tmp_path / "one.png")
    r = read_digits(path, net, single=True)
    assert r.text == str(label)
    assert r.digits[0].label == int(np.argmax(net.feedforward(to_mnist(path))))


def test_best_path_is_the_best_of_all_segmentations():
    # Brute force over every segmentation of 6 atoms (2^5) with random scores.
    rng = np.random.default_rng(0)
    n = 6
    segments = [(i, j, "field", None, 0) for i in range(n) for j in range(i + 1, min(n, i + 3) + 1)]
    scores = rng.normal(size=len(segments))
    path = images._best_path(n, segments, scores)
    index = {(s[0], s[1]): k for k, s in enumerate(segments)}
    best = -math.inf
    for mask in range(2 ** (n - 1)):
        cuts = [0] + [c for c in range(1, n) if mask >> (c - 1) & 1] + [n]
        spans = list(zip(cuts[:-1], cuts[1:]))
        if all(s in index for s in spans):
            best = max(best, sum(scores[index[s]] for s in spans))
    assert [segments[k][:2] for k in path] == sorted(segments[k][:2] for k in path)
    assert math.isclose(sum(scores[k] for k in path), best)


def test_small_segmentation_run(mnist, tmp_path, net):
    from fastnn.book.segmentation import evaluate_segmentation, markdown_table

    res = evaluate_segmentation(net, n_lines=6, n_pairs=8, seed=3, mnist=mnist, out_dir=tmp_path, verbose=False)
    sep, touch = res.sets
    assert (sep.lines, sep.digits) == (6, 36) and touch.lines <= 8 and touch.digits == 2 * touch.lines
    assert res.chapter_example == "504192"
    assert sep.digit_accuracy >= 0.85
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == sep.lines + touch.lines
    assert _opened(pngs[0]).mode == "L"
    assert (tmp_path / "truth.json").exists()
    assert "| separated, 6 digits each | 6 | 36 |" in markdown_table(res)


# -- the command line ---------------------------------------------------------------------
def test_cli_predict_and_show(mnist, tmp_path, capsys):
    from fastnn.book.segmentation import chapter_example
    from fastnn.cli import main

    line = tmp_path / "504192.png"
    chapter_example(out=line, train_images=mnist[0][0])
    out_png = tmp_path / "shown.png"
    assert main(["predict", str(line), "--show", str(out_png)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"{line}: 504192"
    assert len([p for p in printed if "confidence" in p]) == 6
    shown = _opened(out_png)
    assert shown.mode == "RGB" and shown.width >= _opened(line).width * 4
    assert (np.asarray(shown)[..., 0] > 200).sum() > (np.asarray(shown)[..., 1] > 200).sum()  # red drawn

    blank = _save(np.full((20, 20), 255, dtype=np.uint8), tmp_path / "blank.png")
    assert main(["predict", str(line), str(blank)]) == 1  # one error, the other image still read
    captured = capsys.readouterr()
    assert "504192" in captured.out and "blank.png: no ink found" in captured.err
    assert main(["predict", str(line), str(blank), "--show", str(out_png)]) == 2
    assert "--show draws one image" in capsys.readouterr().err

    one = _save(_rendered(mnist[2][0][0]), tmp_path / "seven.png")  # MNIST's first test digit, a 7
    assert main(["predict", "--single", str(one)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"{one}: 7" and len(printed) == 2


def test_cli_reproduce_segmentation_arguments(capsys):
    from fastnn.cli import build_parser, main

    args = build_parser().parse_args(["reproduce", "segmentation", "--quick", "--seeds", "3", "--out-dir", "d"])
    assert (args.experiment, args.quick, args.seeds, str(args.out_dir), args.model) == ("segmentation", True, [3], "d",
                                                                                       None)
    assert main(["reproduce", "segmentation", "--seeds", "1", "2"]) == 2  # before any work
    assert "takes one non-negative seed" in capsys.readouterr().err
