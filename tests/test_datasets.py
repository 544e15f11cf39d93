"""Tests of fastnn.datasets: real MNIST, lookup order, faults, downloads, the book's pickle.

No test reaches the network: an autouse fixture sends the cache to a temporary
directory and sets FASTNN_MIRRORS empty (downloads off); the download tests
serve files from an HTTP server they start on 127.0.0.1.
"""

import gzip
import hashlib
import http.server
import io
import os
import pickle
import re
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import datasets
from fastnn.datasets import (
    DataError,
    DataNotFoundError,
    load_fashion_mnist,
    load_mnist,
    load_mnist_pickle,
    read_idx,
)

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# From data/mnist/README.md.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
DEBIAN_FASHION = Path(datasets.DEBIAN_FASHION_MNIST_DIR)


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """Cache in tmp_path/cache, never the user's; downloads disabled unless a test serves."""
    monkeypatch.setenv("FASTNN_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTNN_CACHE_DIR", raising=False)
    monkeypatch.setenv("FASTNN_MIRRORS", "")


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """load_mnist(mnist_dir) once: ((X, y), (X_val, y_val), (X_test, y_test)), float64."""
    return load_mnist(mnist_dir)


@pytest.fixture(scope="session")
def gz_bytes(mnist_dir):
    """The four real .gz files, as bytes."""
    return {n: (mnist_dir / f"{n}.gz").read_bytes() for n in NAMES}


@pytest.fixture(scope="session")
def raw_bytes(gz_bytes):
    """The four decompressed IDX files, as bytes."""
    return {n: gzip.decompress(b) for n, b in gz_bytes.items()}


def link_mnist(mnist_dir, directory, names=NAMES):
    """Symlink real MNIST .gz files into ``directory`` (no 11 MB copies)."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in names:
        (directory / f"{n}.gz").symlink_to(mnist_dir / f"{n}.gz")
    return directory


def idx_bytes(array):
    """An IDX file of a uint8 array, written by hand from LeCun's format description."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.tobytes()


SMALL = np.arange(12, dtype=np.uint8).reshape(3, 2, 2) * 21  # 3 images of 2x2
SMALL_IDX = idx_bytes(SMALL)  # 4 + 12 header bytes + 12 data bytes
SMALL_GZ = gzip.compress(SMALL_IDX, mtime=0)
SMALL_SHA256 = hashlib.sha256(SMALL_IDX).hexdigest()


# --------------------------------------------------------------------------- real MNIST


def test_shapes_dtypes_layout(mnist):
    shapes = [(50000, 784), (10000, 784), (10000, 784)]
    for ds, shape in zip(mnist, shapes):
        assert isinstance(ds, fastnn.Dataset) and ds.is_bytes and len(ds) == shape[0]
        X, y = ds
        assert X.shape == shape and X.dtype == np.float64
        assert y.shape == shape[:1] and y.dtype == np.int64
        for a in (X, y):  # the Dataset's own arrays: read-only, so they cannot drift from it
            assert a.flags.c_contiguous and not a.flags.writeable and a.flags.owndata


def test_pixels_scaled_to_unit_interval(mnist, mnist_dir):
    for X, _ in mnist:
        assert X.min() == 0.0 and X.max() == 1.0
    raw = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(mnist[2][0], raw.reshape(10000, 784) / 255.0)


def test_readme_facts(mnist):
    (X, y), (X_val, y_val), (X_test, y_test) = mnist
    assert np.bincount(np.concatenate([y, y_val]), minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == TEST_COUNTS
    assert y[:6].tolist() == [5, 0, 4, 1, 9, 2]
    assert y.min() == 0 and y.max() == 9


def test_split_is_first_50000_then_last_10000(mnist, mnist_dir):
    images = read_idx(mnist_dir / "train-images-idx3-ubyte.gz").reshape(60000, 784)
    labels = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")
    (X, y), (X_val, y_val), _ = mnist
    assert np.array_equal(X_val, images[50000:] / 255.0)
    assert np.array_equal(y_val, labels[50000:])
    assert np.array_equal(X, images[:50000] / 255.0)
    assert np.array_equal(y, labels[:50000])


@pytest.mark.parametrize("validation_size", [0, 12345, 60000])
def test_validation_size(mnist, mnist_dir, validation_size):
    (X, y), (X_val, y_val), (X_test, y_test) = load_mnist(
        mnist_dir, dtype="float32", validation_size=validation_size
    )
    n_train = 60000 - validation_size
    assert X.shape == (n_train, 784) and y.shape == (n_train,)
    assert X_val.shape == (validation_size, 784) and y_val.shape == (validation_size,)
    assert X_test.shape == (10000, 784)
    assert X_val.dtype == np.float32 and y_val.dtype == np.int64
    assert X_val.flags.c_contiguous and not X_val.flags.writeable  # a Dataset's view
    all_labels = np.concatenate([mnist[0][1], mnist[1][1]])
    np.testing.assert_array_equal(np.concatenate([y, y_val]), all_labels)


def test_float32(mnist, mnist_dir):
    # Dividing in float32 gives the float64 quotient rounded to float32, for every pixel value.
    pixels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(pixels / np.float32(255), (pixels / 255.0).astype(np.float32))
    train, validation, test = load_mnist(mnist_dir, dtype=np.float32)
    for (X, y), (X64, y64) in zip((train, validation, test), mnist):
        assert X.dtype == np.float32 and X.flags.c_contiguous and not X.flags.writeable
        assert np.array_equal(X, X64.astype(np.float32))  # see the next assertion
        assert np.array_equal(y, y64)


@pytest.mark.parametrize("dtype", ["float16", "int64", np.uint8, None, "nonsense", "complex128"])
def test_bad_dtype(dtype, tmp_path):
    # Checked before any file is looked for (tmp_path has none).
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        load_mnist(tmp_path, dtype=dtype)


@pytest.mark.parametrize("value", [-1, 60001, 10**12])
def test_validation_size_out_of_range(value, tmp_path):
    with pytest.raises(ValueError, match=f"validation_size must be in 0..60000, got {value}"):
        load_mnist(tmp_path, validation_size=value)


@pytest.mark.parametrize("value", [0.5, 10000.0, "10000", None, True])
def test_validation_size_not_an_integer(value, tmp_path):
    with pytest.raises(TypeError, match="validation_size must be an integer.*got"):
        load_mnist(tmp_path, validation_size=value)


# --------------------------------------------------------------------------- lookup


def test_fastnn_data(mnist, mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(mnist_dir))
    _, _, (X_test, y_test) = load_mnist(dtype="float32")
    np.testing.assert_array_equal(y_test, mnist[2][1])
    assert not (tmp_path / "cache").exists()  # the cache was neither needed nor created


def test_fastnn_data_mnist_subdirectory(mnist, mnist_dir, tmp_path, monkeypatch):
    link_mnist(mnist_dir, tmp_path / "root" / "mnist")
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "root"))
    np.testing.assert_array_equal(load_mnist(dtype="float32")[2][1], mnist[2][1])


def test_uncompressed_files(mnist, raw_bytes, tmp_path):
    for n, content in raw_bytes.items():
        (tmp_path / n).write_bytes(content)
    train, validation, test = load_mnist(tmp_path, dtype="float32")
    for (X, y), (X0, y0) in zip((train, validation, test), mnist):
        assert np.array_equal(X, X0.astype(np.float32))
        assert np.array_equal(y, y0)


def test_fastnn_data_is_searched_before_the_cache(mnist_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache" / "mnist"
    cache.mkdir(parents=True)
    (cache / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    monkeypatch.setenv("FASTNN_DATA", str(mnist_dir))
    load_mnist(dtype="float32")
    assert (cache / "train-images-idx3-ubyte.gz").read_bytes() == b"garbage"  # untouched


def test_data_dir_missing_files_is_an_error_without_fallthrough(
    mnist_dir, tmp_path, monkeypatch, http_server
):
    base, requests = http_server({})
    monkeypatch.setenv("FASTNN_DATA", str(mnist_dir))  # would succeed, must not be used
    monkeypatch.setenv("FASTNN_MIRRORS", base)  # would be tried, must not be
    partial = link_mnist(mnist_dir, tmp_path / "partial", NAMES[:2])
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(partial)
    msg = str(info.value)
    assert str(partial) in msg and "data_dir" in msg
    assert "t10k-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert "train-images" not in msg
    assert requests == []
    assert isinstance(info.value, FileNotFoundError)


def test_data_dir_that_does_not_exist(tmp_path):
    with pytest.raises(DataNotFoundError, match="nowhere.*not a directory"):
        load_mnist(tmp_path / "nowhere")


def test_corrupt_file_outside_the_cache_is_an_error(mnist_dir, raw_bytes, tmp_path, monkeypatch):
    data = link_mnist(mnist_dir, tmp_path / "data", NAMES[:3])
    bad = bytearray(raw_bytes["t10k-labels-idx1-ubyte"])
    bad[-1] = (bad[-1] + 1) % 10  # still a valid IDX file, a different label
    (data / "t10k-labels-idx1-ubyte").write_bytes(bytes(bad))
    monkeypatch.setenv("FASTNN_DATA", str(data))
    expected = datasets.MNIST_SHA256["t10k-labels-idx1-ubyte"]
    found = hashlib.sha256(bad).hexdigest()
    with pytest.raises(DataError, match="SHA-256 mismatch") as info:
        load_mnist()
    msg = str(info.value)
    assert str(data / "t10k-labels-idx1-ubyte") in msg and expected in msg and found in msg
    assert (data / "t10k-labels-idx1-ubyte").read_bytes() == bad  # never replaced


def test_swapped_file_reports_the_magic_number(mnist_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train-images-idx3-ubyte.gz").symlink_to(mnist_dir / "train-labels-idx1-ubyte.gz")
    link_mnist(mnist_dir, data, NAMES[1:])
    with pytest.raises(DataError) as info:
        load_mnist(data)
    assert str(info.value) == (
        f"{data / 'train-images-idx3-ubyte.gz'}: bad magic number: "
        "expected 0x00000803 (2051), found 0x00000801 (2049) (an IDX file with 1 dimensions)"
    )


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(),
    reason=f"{DEBIAN_FASHION} absent (Debian package dataset-fashion-mnist not installed)",
)
def test_fashion_mnist_from_debian(mnist_dir, tmp_path, monkeypatch):
    # FASTNN_DATA pointing at MNIST must not be mistaken for Fashion-MNIST: only its
    # fashion-mnist/ subdirectory is searched.
    monkeypatch.setenv("FASTNN_DATA", str(mnist_dir))
    (X, y), (X_val, y_val), (X_test, y_test) = load_fashion_mnist(dtype="float32")
    assert X.shape == (50000, 784) and X_val.shape == (10000, 784) and X_test.shape == (10000, 784)
    assert X.dtype == np.float32 and X.flags.c_contiguous and not X.flags.writeable
    assert 0.0 <= X.min() and X.max() <= 1.0
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    assert np.bincount(np.concatenate([y, y_val])).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------- read_idx faults


def test_gzip_detected_by_header_not_name(raw_bytes, tmp_path):
    content = raw_bytes["train-labels-idx1-ubyte"]
    buf = io.BytesIO()
    with gzip.GzipFile("train-labels-idx1-ubyte", "wb", fileobj=buf, mtime=0) as f:
        f.write(content)  # FNAME flag set, as in the canonical upstream files
    gz = buf.getvalue()
    # Read as raw IDX, the gzip header would be the magic 0x1f8b0808.
    assert struct.unpack(">I", gz[:4])[0] == 529205256 == 0x1F8B0808
    (tmp_path / "labels").write_bytes(gz)  # gzip, no .gz
    (tmp_path / "labels.gz").write_bytes(content)  # raw, named .gz
    expected = np.frombuffer(content, np.uint8, offset=8)
    for name in ("labels", "labels.gz"):
        labels = read_idx(tmp_path / name, expected_sha256=datasets.MNIST_SHA256[
            "train-labels-idx1-ubyte"])
        np.testing.assert_array_equal(labels, expected)
        assert labels.dtype == np.uint8 and labels.flags.writeable and labels.flags.owndata


def test_wrong_magic(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError) as info:
        read_idx(path, ndim=3)
    assert str(info.value) == (
        f"{path}: bad magic number: expected 0x00000803 (2051), found 0x00000801 (2049) "
        "(an IDX file with 1 dimensions)"
    )
    path.write_bytes(b"\x00\x00\x0d\x03" + SMALL_IDX[4:])  # IDX of floats
    with pytest.raises(DataError, match=r"expected 0x00000801 \(2049\) or 0x00000803 \(2051\), "
                                        r"found 0x00000D03 \(3331\) \(an IDX file of type float"):
        read_idx(path)


def test_truncated_gzip(gz_bytes, tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gz_bytes["train-images-idx3-ubyte"][: 1 << 20])
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: truncated gzip data"):
        read_idx(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.gz"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: empty file"):
        read_idx(path)


def test_gz_holding_two_newlines(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"\n\n")
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: file too short \\(2 bytes\\)"):
        read_idx(path)


def test_gzip_of_garbage(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"<html>Access denied</html>"))
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: bad magic number"):
        read_idx(path)
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)  # gzip header, garbage after
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: (corrupt|truncated) gzip data"):
        read_idx(path)


@pytest.mark.parametrize(
    "content, cause",
    [
        (SMALL_IDX + b"\x00", "1 unexpected bytes after the 12 bytes of data that the header's "
                              "dimensions 3 x 2 x 2 need"),
        (SMALL_IDX[:-1], "truncated data: the header's dimensions 3 x 2 x 2 need 12 bytes of "
                         "data, found 11"),
        (SMALL_IDX[:10], "truncated header: 3 dimension(s) need 16 header bytes, found 10"),
    ],
)
def test_byte_count_must_match_header(content, cause, tmp_path):
    path = tmp_path / "small"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert str(info.value) == f"{path}: {cause}"


def test_checksum_mismatch(tmp_path):
    path = tmp_path / "small.gz"
    path.write_bytes(SMALL_GZ)
    wrong = "0" * 64
    with pytest.raises(DataError) as info:
        read_idx(path, expected_sha256=wrong)
    found = hashlib.sha256(SMALL_IDX).hexdigest()
    assert str(info.value).startswith(f"{path}: SHA-256 mismatch")
    assert f"expected {wrong}, found {found}" in str(info.value)
    np.testing.assert_array_equal(read_idx(path, expected_sha256=found), SMALL)


def test_missing_and_unreadable_paths(tmp_path):
    with pytest.raises(DataNotFoundError, match="no such file") as info:
        read_idx(tmp_path / "nope")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    with pytest.raises(DataError, match=f"^{re.escape(str(tmp_path))}: cannot read the file"):
        read_idx(tmp_path)  # a directory


# --------------------------------------------------------------------------- properties

PROPERTY = settings(
    deadline=None,
    max_examples=150,
    # `offline` (autouse) only sets environment variables: sharing it across examples is fine.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("property") / "file"


def read_or_data_error(path, **kwargs):
    try:
        return read_idx(path, **kwargs)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ")
        return None


@PROPERTY
@given(st.one_of(st.binary(max_size=64), st.binary(max_size=64).map(lambda b: b"\x1f\x8b" + b),
                 st.binary(max_size=40).map(lambda b: b"\x00\x00\x08\x03" + b)))
def test_random_bytes_raise_only_data_error(scratch, content):
    scratch.write_bytes(content)
    read_or_data_error(scratch)


@PROPERTY
@given(gzipped=st.booleans(), data=st.data())
def test_prefixes_of_a_valid_file(scratch, gzipped, data):
    content = SMALL_GZ if gzipped else SMALL_IDX
    n = data.draw(st.integers(0, len(content)))
    scratch.write_bytes(content[:n])
    result = read_or_data_error(scratch)
    if n == len(content):
        np.testing.assert_array_equal(result, SMALL)
    else:
        assert result is None


@PROPERTY
@given(gzipped=st.booleans(), data=st.data())
def test_one_corrupted_byte(scratch, gzipped, data):
    content = bytearray(SMALL_GZ if gzipped else SMALL_IDX)
    i = data.draw(st.integers(0, len(content) - 1))
    content[i] ^= data.draw(st.integers(1, 255))
    scratch.write_bytes(bytes(content))
    result = read_or_data_error(scratch)
    if result is not None:  # e.g. a changed pixel: a valid file, caught only by the checksum
        assert result.dtype == np.uint8
    result = read_or_data_error(scratch, expected_sha256=SMALL_SHA256)
    if result is not None:
        # Only bits that do not carry content can change and still pass: the gzip
        # header's FTEXT flag, mtime, XFL and OS, or the deflate stream's final
        # padding bits. A raw IDX file has no such bits.
        assert gzipped
        np.testing.assert_array_equal(result, SMALL)


# --------------------------------------------------------------------------- downloads


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        if callable(route):  # a misbehaving mirror
            try:
                route(self)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        body, n_sent = route
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body[:n_sent])  # n_sent < len(body): a truncated body
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a test interrupting a download)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """Start HTTP servers on 127.0.0.1.

    ``http_server({path: body or (body, n_sent)})`` returns ``(base_url, requests)``;
    ``requests`` lists the paths asked for; other paths answer 404.
    """
    started = []
    stop = threading.Event()  # ends the handlers of misbehaving mirrors

    def start(routes):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.routes = {
            p: r if isinstance(r, tuple) or callable(r) else (r, len(r)) for p, r in routes.items()
        }
        server.requests = []
        server.stop = stop
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        started.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/", server.requests

    yield start
    stop.set()
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join()


def mnist_routes(gz_bytes, prefix="mnist/", **overrides):
    routes = {f"/{prefix}{n}.gz": gz_bytes[n] for n in NAMES}
    routes.update({f"/{prefix}{n}.gz": r for n, r in overrides.items()})
    return routes


def check_cache(cache, names=NAMES):
    """The cache holds exactly the verified .gz files: no temporary or partial file."""
    assert sorted(os.listdir(cache)) == sorted(f"{n}.gz" for n in names)
    for n in names:
        content = gzip.decompress((cache / f"{n}.gz").read_bytes())
        assert hashlib.sha256(content).hexdigest() == datasets.MNIST_SHA256[n]


def test_download(mnist, gz_bytes, tmp_path, monkeypatch, http_server):
    base, requests = http_server(mnist_routes(gz_bytes))
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("FASTNN_MIRRORS", base + "mnist/")
    _, (X_val, y_val), (X_test, y_test) = load_mnist(dtype="float32", progress=True)
    np.testing.assert_array_equal(y_test, mnist[2][1])
    np.testing.assert_array_equal(y_val, mnist[1][1])
    check_cache(tmp_path / "cache" / "mnist")
    assert sorted(requests) == sorted(f"/mnist/{n}.gz" for n in NAMES)
    load_mnist(dtype="float32")  # now from the cache
    assert len(requests) == 4


def test_download_falls_back_to_the_next_mirror(gz_bytes, tmp_path, monkeypatch, http_server):
    base, requests = http_server(mnist_routes(gz_bytes))
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    arrays = datasets._fetch_arrays("mnist", mirrors=[base + "missing", base + "mnist"])
    assert arrays["t10k-labels-idx1-ubyte"][:3].tolist() == [7, 2, 1]
    assert requests == [f"/{d}/{n}.gz" for n in NAMES for d in ("missing", "mnist")]
    check_cache(tmp_path / "cache" / "mnist")


@pytest.mark.parametrize(
    "name, body, cause",
    [
        ("train-images-idx3-ubyte", "truncated",
         "truncated download: received 1048576 of 9719438 bytes"),
        ("train-images-idx3-ubyte", "swapped",
         "bad magic number: expected 0x00000803 (2051), found 0x00000801 (2049)"),
        ("train-labels-idx1-ubyte", "corrupt",
         "SHA-256 mismatch of the decompressed content: expected 65a50cbbf4e906d70832878ad85"),
    ],
)
def test_bad_download_leaves_nothing_behind(
    name, body, cause, gz_bytes, raw_bytes, tmp_path, monkeypatch, http_server
):
    if body == "truncated":
        route = (gz_bytes[name], 1 << 20)
    elif body == "swapped":
        route = gz_bytes["train-labels-idx1-ubyte"]
    else:
        content = bytearray(raw_bytes[name])
        content[1000] ^= 1  # one label: a valid IDX file with the wrong checksum
        route = gzip.compress(bytes(content))
    base, _ = http_server(mnist_routes(gz_bytes, **{name: route}))
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("FASTNN_MIRRORS", base + "mnist/")
    with pytest.raises(DataNotFoundError) as info:
        load_mnist()
    assert f"{base}mnist/{name}.gz: {cause}" in str(info.value)
    # Only the files downloaded and verified before the bad one (in lookup order).
    before = NAMES[: NAMES.index(name)]
    assert sorted(os.listdir(tmp_path / "cache" / "mnist")) == sorted(f"{n}.gz" for n in before)


def test_all_mirrors_failing(tmp_path, monkeypatch, http_server):
    base, _ = http_server({})
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/mnist/"
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("FASTNN_MIRRORS", f"{base}mnist/, {refused}")
    with pytest.raises(DataNotFoundError) as info:
        load_mnist()
    msg = str(info.value)
    cache = tmp_path / "cache" / "mnist"
    assert f"{base}mnist/train-images-idx3-ubyte.gz: HTTP error 404" in msg
    assert f"{refused}train-images-idx3-ubyte.gz: [Errno 111] Connection refused" in msg
    assert f"- {tmp_path / 'empty'} (FASTNN_DATA)" in msg
    assert f"- {cache} (cache, FASTNN_DATA_CACHE)" in msg
    assert "To supply the MNIST files by hand" in msg and "FASTNN_DATA" in msg and "--data-dir" in msg
    assert all(f"{n}.gz" in msg for n in NAMES)
    assert isinstance(info.value, FileNotFoundError)
    assert os.listdir(cache) == []


def test_downloads_disabled(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    msg = "downloading is disabled, the mirror list is empty; FASTNN_MIRRORS=''"
    with pytest.raises(DataNotFoundError, match=msg):
        load_mnist()
    assert not (tmp_path / "cache").exists()


def test_download_timeout(tmp_path, monkeypatch):
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        monkeypatch.delenv("FASTNN_DATA", raising=False)
        with pytest.raises(DataNotFoundError, match="timed out"):
            datasets._fetch_arrays("mnist", mirrors=[url], timeout=0.2)
    assert os.listdir(tmp_path / "cache" / "mnist") == []


def test_keyboard_interrupt_removes_the_temporary_file(
    gz_bytes, tmp_path, monkeypatch, http_server
):
    base, _ = http_server(mnist_routes(gz_bytes))
    cache = tmp_path / "cache" / "mnist"
    seen = []

    def interrupted_copy(response, out, *args):
        out.write(response.read(1000))
        out.flush()
        seen.extend((p.name, p.stat().st_size) for p in cache.iterdir())
        raise KeyboardInterrupt

    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("FASTNN_MIRRORS", base + "mnist/")
    monkeypatch.setattr(datasets, "_copy", interrupted_copy)
    with pytest.raises(KeyboardInterrupt):
        load_mnist()
    # The partial download went to a temporary file in the target directory...
    [(name, size)] = seen
    assert name.startswith(".train-images-idx3-ubyte.gz.") and name.endswith(".part")
    assert size == 1000
    # ...which is gone.
    assert os.listdir(cache) == []


def test_partial_file_in_cache_is_replaced(gz_bytes, tmp_path, monkeypatch, http_server, caplog):
    base, requests = http_server(mnist_routes(gz_bytes))
    cache = tmp_path / "cache" / "mnist"
    cache.mkdir(parents=True)
    partial = cache / "train-images-idx3-ubyte.gz"
    partial.write_bytes(gz_bytes["train-images-idx3-ubyte"][: 1 << 20])
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("FASTNN_MIRRORS", base + "mnist/")
    load_mnist(dtype="float32")
    assert f"{partial}: truncated gzip data" in caplog.text
    assert "removing it from the cache and downloading it again" in caplog.text
    assert partial.read_bytes() == gz_bytes["train-images-idx3-ubyte"]
    assert "/mnist/train-images-idx3-ubyte.gz" in requests
    check_cache(cache)


# --------------------------------------------------------------------------- misbehaving mirrors

LABELS = "t10k-labels-idx1-ubyte"


def small_labels_gz():
    """A valid t10k-labels file (10000 labels), its SHA-256 of the decompressed content."""
    raw = idx_bytes(np.arange(10000) % 10)
    return gzip.compress(raw, mtime=0), hashlib.sha256(raw).hexdigest()


def download_labels(base, timeout, progress=False, tmp=None):
    _, sha = small_labels_gz()
    target = tmp / f"{LABELS}.gz"
    return datasets._download_one(
        f"{base}{LABELS}.gz", target, sha, LABELS, datasets._timeouts(timeout), progress
    )


def silent_after_headers(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "5000")
    handler.end_headers()
    handler.wfile.flush()
    handler.server.stop.wait(10)


def trickle(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "12000")
    handler.end_headers()
    while not handler.server.stop.wait(0.02):  # 100 bytes every 20 ms: 5 KB/s
        handler.wfile.write(b"\x1f" * 100)
        handler.wfile.flush()


def endless(handler):
    handler.send_response(200)  # no Content-Length: the body ends when the connection does
    handler.end_headers()
    block = b"\0" * 8192
    while not handler.server.stop.is_set():
        handler.wfile.write(block)


def huge_content_length(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", str(10 << 30))
    handler.end_headers()


def slow_headers(handler):
    handler.server.stop.wait(0.5)
    body, _ = small_labels_gz()
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize(
    "route, fragment",
    [
        (silent_after_headers, "timed out: no data for 0.3 s (read timeout)"),
        (trickle, "stalled: "),
        (endless, "the mirror sent more than 14114 bytes, more than the file can be"),
        (huge_content_length, "the mirror announces 10737418240 bytes (Content-Length)"),
    ],
)
def test_misbehaving_mirror_is_given_up(route, fragment, tmp_path, monkeypatch, http_server):
    base, _ = http_server({f"/{LABELS}.gz": route})
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("FASTNN_DOWNLOAD_TIMEOUT", "5,0.3")
    cache = tmp_path / "cache" / "mnist"
    spec = datasets._DATASETS["mnist"]
    dirs = datasets._search_dirs(spec, "mnist")
    with pytest.raises(DataNotFoundError) as info:
        datasets._download(LABELS, "0" * 64, cache, spec, "mnist", dirs, [base], False, None)
    msg = str(info.value)
    assert f"- {base}{LABELS}.gz: {fragment}" in msg  # names the mirror
    assert "Next: try again later, or list a mirror that works in FASTNN_MIRRORS" in msg
    if route in (silent_after_headers, trickle):
        assert "FASTNN_DOWNLOAD_TIMEOUT (now 5,0.3 seconds to connect,read)" in msg
    if route is trickle:
        assert re.search(r"stalled: \d+ bytes in the last 0\.\d s \(less than 64 KiB within the "
                         r"read timeout of 0\.3 s\)", msg)
    assert os.listdir(cache) == []  # nothing partial left behind


def test_read_timeout_is_separate_from_connect_timeout(tmp_path, http_server):
    base, _ = http_server({f"/{LABELS}.gz": slow_headers})
    with pytest.raises(TimeoutError):  # headers take 0.5 s: over a read timeout of 0.2 s
        download_labels(base, (5, 0.2), tmp=tmp_path)
    labels = download_labels(base, (0.2, 5), tmp=tmp_path)  # the 0.2 s is only for connecting
    assert labels[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_download_progress_bar(tmp_path, http_server, capsys):
    body, _ = small_labels_gz()
    base, _ = http_server({f"/{LABELS}.gz": body})
    download_labels(base, (5, 5), progress=True, tmp=tmp_path)
    err = capsys.readouterr().err
    assert err.startswith(f"\r{LABELS}.gz:   0%|") and "B/s]" in err  # a tqdm bar on stderr
    download_labels(base, (5, 5), progress=False, tmp=tmp_path)
    assert capsys.readouterr().err == ""


def test_download_of_a_gzip_bomb_is_refused(tmp_path, http_server):
    # The header and 10000 labels, then 64 more members of 64 KiB of zeros each:
    # a 6 KB download inflating to 4 MB.
    good, _ = small_labels_gz()
    bomb = good + gzip.compress(b"\0" * (1 << 16), mtime=0) * 64
    base, _ = http_server({f"/{LABELS}.gz": bomb})
    with pytest.raises(DataError, match=re.escape(
        f"{base}{LABELS}.gz: unexpected bytes after the 10000 bytes of data that the header's "
        "dimensions 10000 need; decompression stopped there"
    )):
        download_labels(base, (5, 5), tmp=tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "value, accepted",
    [("soon", "seconds > 0: one number for both, or CONNECT,READ"), ("0", "seconds must be finite"),
     ("1,2,3", "CONNECT,READ (e.g. '10,60')"), ("inf", "seconds must be finite and > 0")],
)
def test_bad_download_timeout_setting(value, accepted, monkeypatch):
    monkeypatch.setenv("FASTNN_DOWNLOAD_TIMEOUT", value)
    with pytest.raises(ValueError, match=re.escape(f"FASTNN_DOWNLOAD_TIMEOUT={value!r} is not valid")) as info:
        datasets._timeouts(None)
    assert accepted in str(info.value)
    with pytest.raises(ValueError, match=r"timeout must be seconds > 0, or a pair"):
        datasets._timeouts((1, -1))
    monkeypatch.setenv("FASTNN_DOWNLOAD_TIMEOUT", " 3 , 7.5 ")
    assert datasets._timeouts(None) == (3.0, 7.5)
    monkeypatch.setenv("FASTNN_DOWNLOAD_TIMEOUT", "4")
    assert datasets._timeouts(None) == (4.0, 4.0)


# --------------------------------------------------------------------------- bounded cost

_BOMB_CHILD = r"""
import json, resource, sys
from fastnn import datasets

def vm_size():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))

budget = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (vm_size() + budget, vm_size() + budget))
results = {}
for case, path, kwargs in json.loads(sys.argv[2]):
    try:
        datasets.read_idx(path, **kwargs)
        results[case] = "no error"
    except datasets.DataError as exc:
        results[case] = "DataError: " + str(exc)
    except MemoryError:
        results[case] = "MemoryError"
print(json.dumps(results))
"""


def test_decompression_bombs_and_lying_headers_cost_what_the_header_allows(tmp_path):
    """In a child process whose address space may grow by 300 MB only."""
    zeros = gzip.compress(b"\0" * (64 << 20), compresslevel=9, mtime=0)  # 64 MiB -> 65 KB
    header = struct.pack(">BBBB3I", 0, 0, 8, 3, 60000, 28, 28)
    # MNIST's header, then 2 GiB of zeros in 32 gzip members: a 2 MB file.
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(header, mtime=0) + zeros * 32)
    # A 1 KB gzip file declaring 4e9 x 28 x 28 bytes (3 TB).
    lying = struct.pack(">BBBB3I", 0, 0, 8, 3, 4_000_000_000, 28, 28) + bytes(range(256)) * 4
    (tmp_path / "lying.gz").write_bytes(gzip.compress(lying, mtime=0))
    (tmp_path / "lying").write_bytes(lying)
    cases = [
        ("bomb", str(tmp_path / "bomb.gz"), {}),
        ("lying_gzip_limit", str(tmp_path / "lying.gz"), {}),
        ("lying_gzip_capacity", str(tmp_path / "lying.gz"), {"max_bytes": 1 << 42}),
        ("lying_raw", str(tmp_path / "lying"), {"max_bytes": 1 << 42}),
    ]
    import json
    import subprocess
    import sys

    budget = 300 << 20
    result = subprocess.run([sys.executable, "-c", _BOMB_CHILD, str(budget), json.dumps(cases)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    p = {case: path for case, path, _ in cases}
    assert out["bomb"] == (
        f"DataError: {p['bomb']}: unexpected bytes after the 47040000 bytes of data that the "
        "header's dimensions 60000 x 28 x 28 need; decompression stopped there (a corrupt file, "
        "or a decompression bomb)")
    assert out["lying_gzip_limit"] == (
        f"DataError: {p['lying_gzip_limit']}: the header's dimensions 4000000000 x 28 x 28 declare "
        "3136000000000 bytes of data, more than the limit of 1073741824 bytes (max_bytes); "
        "refusing to read it")
    assert out["lying_gzip_capacity"].startswith(
        f"DataError: {p['lying_gzip_capacity']}: the header's dimensions 4000000000 x 28 x 28 "
        f"declare 3136000000000 bytes of data, more than a gzip file of "
        f"{(tmp_path / 'lying.gz').stat().st_size} bytes can hold (deflate inflates at most 1032:1)")
    assert out["lying_raw"] == (
        f"DataError: {p['lying_raw']}: truncated data: the header's dimensions 4000000000 x 28 x 28 "
        "need 3136000000000 bytes of data, found 1024")


def test_pickle_decompression_limit(tmp_path, monkeypatch):
    path = tmp_path / "bomb.pkl.gz"
    path.write_bytes(gzip.compress(b"\0" * 5000, mtime=0))
    monkeypatch.setattr(datasets, "MAX_PICKLE_BYTES", 4096)
    with pytest.raises(DataError, match=re.escape(
        f"{path}: content exceeds the limit of 4096 bytes; decompression stopped there"
    )):
        load_mnist_pickle(path, trust=True)


def test_read_idx_max_bytes(tmp_path):
    path = tmp_path / "small.gz"
    path.write_bytes(SMALL_GZ)
    np.testing.assert_array_equal(read_idx(path, max_bytes=12), SMALL)
    with pytest.raises(DataError, match=re.escape(
        "dimensions 3 x 2 x 2 declare 12 bytes of data, more than the limit of 11 bytes")):
        read_idx(path, max_bytes=11)
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ValueError, match="max_bytes must be an integer >= 0"):
            read_idx(path, max_bytes=bad)


def test_mnist_header_declaring_more_than_mnist_is_refused_before_inflating(tmp_path):
    # One image more than MNIST: 47,040,784 bytes, 784 over the file's known size.
    content = struct.pack(">BBBB3I", 0, 0, 8, 3, 60001, 28, 28) + bytes(100)
    directory = tmp_path / "data"
    directory.mkdir()
    for n in NAMES:
        (directory / f"{n}.gz").write_bytes(gzip.compress(content, mtime=0))
    with pytest.raises(DataError, match=re.escape(
        "train-images-idx3-ubyte.gz: the header's dimensions 60001 x 28 x 28 declare 47040784 "
        "bytes of data, more than the limit of 47040000 bytes")):
        load_mnist(directory)


# --------------------------------------------------------------------------- the book's pickle


def test_pickle_refused_without_trust(tmp_path):
    for trust in (False, "yes", 1):
        with pytest.raises(ValueError, match="can execute arbitrary code") as info:
            load_mnist_pickle(tmp_path / "does-not-exist.pkl.gz", trust=trust)
        assert "load_mnist()" in str(info.value)  # refused before the file is opened


def test_pickle_round_trip(mnist, tmp_path, monkeypatch):
    # The book's layout: float32 images in [0, 1], int64 labels, protocol 2, gzip.
    book = tuple((X[:100].astype(np.float32), y[:100].copy()) for X, y in mnist)
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(book, protocol=2)))
    encodings = []
    real_loads = pickle.loads

    def spy(data, **kwargs):
        encodings.append(kwargs.get("encoding"))
        return real_loads(data, **kwargs)

    monkeypatch.setattr(datasets.pickle, "loads", spy)
    for dtype in ("float64", "float32"):
        loaded = load_mnist_pickle(path, trust=True, dtype=dtype)
        for (X, y), (X0, y0), (X_idx, y_idx) in zip(loaded, book, mnist):
            assert X.dtype == dtype and X.flags.c_contiguous and X.flags.writeable
            assert y.dtype == np.int64
            np.testing.assert_array_equal(X, X0)
            np.testing.assert_array_equal(y, y0)
            # ... and it is the IDX loader's split.
            np.testing.assert_allclose(X, X_idx[:100], rtol=1e-7, atol=0)
            np.testing.assert_array_equal(y, y_idx[:100])
    assert encodings == ["latin1", "latin1"]


def test_pickle_with_wrong_structure(tmp_path):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps({"not": "mnist"}, protocol=2))
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: expected a pickled tuple"):
        load_mnist_pickle(path, trust=True)
    path.write_bytes(pickle.dumps(((np.zeros((2, 10)), np.zeros(2, np.int64)),) * 3))
    with pytest.raises(DataError, match=r"train part has X of shape \(2, 10\)"):
        load_mnist_pickle(path, trust=True)
    path.write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError, match="cannot unpickle"):
        load_mnist_pickle(path, trust=True)


def test_the_old_data_cache_variable_still_works(mnist_dir, tmp_path, monkeypatch):
    # FASTNN_CACHE_DIR was the download cache's name before FASTNN_DATA_CACHE; it is read
    # when the new name is unset, and the new name wins when both are.
    old, new = tmp_path / "old", tmp_path / "new"
    link_mnist(mnist_dir, old / "mnist")
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.delenv("FASTNN_DATA_CACHE")
    monkeypatch.setenv("FASTNN_CACHE_DIR", str(old))
    (X, y), _, _ = load_mnist(validation_size=59_990)
    assert X.shape == (10, 784)
    monkeypatch.setenv("FASTNN_DATA_CACHE", str(new))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist()
    assert f"- {new / 'mnist'} (cache, FASTNN_DATA_CACHE)" in str(info.value)
