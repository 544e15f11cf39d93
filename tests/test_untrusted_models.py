"""Model files are untrusted input: the cost of fastnn.load is bounded by the file.

Property tests write .npz archives by hand with random shapes in the .npy headers
(true or lying), random ``sizes``, dtypes, member names and compression; only
ModelFileError escapes and the peak allocation (tracemalloc, which sees NumPy's
buffers) stays under a bound set by the bytes the archive really holds. Lying headers
that would ask for gigabytes are also read in a child process whose address space may
grow by 300 MB only, so a regression fails the test instead of the machine.
"""

import io
import json
import struct
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import ModelFileError


def npy_bytes(shape, descr="<f8", data=None, n_data=None):
    """A .npy file whose header declares ``shape`` and ``descr``, followed by ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    if data is None:
        itemsize = np.dtype(descr).itemsize if descr != "|O" else 8
        n = int(np.prod(shape, dtype=object)) * itemsize if n_data is None else n_data
        data = bytes(min(n, 1 << 16))  # never more than 64 KiB, whatever the header says
    return buf.getvalue() + data


def archive(members, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as z:
        for name, content in members.items():
            z.writestr(f"{name}.npy", content)
    return buf.getvalue()


def real_members(sizes, dtype="float64"):
    """The members Network.save writes, as bytes (valid values)."""
    out = {}
    for key, value in (("format_version", np.array(1)), ("sizes", np.array(sizes)), ("dtype", np.array(dtype))):
        b = io.BytesIO()
        np.save(b, value)
        out[key] = b.getvalue()
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for key, shape in ((f"weights_{l}", (n_out, n_in)), (f"biases_{l}", (n_out,))):
            b = io.BytesIO()
            np.save(b, np.full(shape, 0.5, dtype=dtype))
            out[key] = b.getvalue()
    return out


dims = st.one_of(st.integers(0, 6), st.integers(7, 2**20), st.sampled_from([2**31 - 1, 2**32, 2**40]))


@st.composite
def model_files(draw):
    sizes = draw(st.lists(st.one_of(st.integers(1, 5), st.integers(10**5, 10**7)), min_size=1, max_size=4))
    members = real_members([min(n, 5) for n in sizes] if len(sizes) >= 2 else [2, 1])
    members["sizes"] = npy_bytes((len(sizes),), "<i8", np.array(sizes, "<i8").tobytes())
    for _ in range(draw(st.integers(0, 3))):  # lie in some headers
        key = draw(st.sampled_from(sorted(members)))
        shape = tuple(draw(st.lists(dims, max_size=3)))
        descr = draw(st.sampled_from(["<f8", "<f4", "<i8", "|O", "<U7"]))
        n_data = draw(st.one_of(st.none(), st.integers(0, 5000)))
        members[key] = npy_bytes(shape, descr, n_data=n_data)
    if draw(st.booleans()):
        members.pop(draw(st.sampled_from(sorted(members))))
    if draw(st.booleans()):
        members[draw(st.sampled_from(["extra", "weights_9", "biases_0x", "../up"]))] = npy_bytes((3,))
    compress = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    return archive(members, compress)


def uncompressed_bytes(content):
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return sum(info.file_size for info in z.infolist())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])
@given(content=model_files())
def test_load_of_random_headers_raises_only_model_file_error_within_a_memory_bound(content, tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    # NumPy, the zip module and a small network: a few MiB fixed, plus a multiple of the
    # bytes in the archive (the ROW_ALIGN padding, the Network's copy, ...).
    bound = (4 << 20) + 64 * uncompressed_bytes(content)
    tracemalloc.start()
    try:
        net = fastnn.load(path)
    except ModelFileError as exc:
        assert str(exc).startswith(f"{path}: ")
        net = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak <= bound, f"load allocated {peak} bytes, bound {bound}"
    if net is not None:
        assert np.isfinite(net.params).all() and len(net.sizes) >= 2


def test_valid_files_of_random_sizes_load(tmp_path):
    rng = np.random.default_rng(0)
    for _ in range(5):
        sizes = [int(n) for n in rng.integers(1, 9, size=rng.integers(2, 5))]
        net = fastnn.Network(sizes, seed=1)
        other = fastnn.load(net.save(tmp_path / "m.npz"))
        np.testing.assert_array_equal(other.params, net.params)


_CHILD = r"""
import json, resource, sys
import fastnn

def vm_size():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))

limit = vm_size() + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
out = {}
for case, path in json.loads(sys.argv[2]).items():
    try:
        fastnn.load(path)
        out[case] = "loaded"
    except fastnn.ModelFileError as exc:
        out[case] = "ModelFileError: " + str(exc).split(": ", 1)[1]
    except MemoryError:
        out[case] = "MemoryError"
print(json.dumps(out))
"""


def forge_file_size(content, name, file_size):
    """Set the uncompressed size of member ``name`` in both zip headers (a lying archive)."""
    data = bytearray(content)
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        info = z.getinfo(name)
    struct.pack_into("<I", data, info.header_offset + 22, file_size)  # local file header
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:  # the central directory entry of this member (APPNOTE 4.3.12)
        n = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + n]) == name.encode():
            struct.pack_into("<I", data, pos + 24, file_size)
            return bytes(data)
        pos = data.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(name)


def test_lying_headers_cost_what_the_file_holds(tmp_path):
    """Each file is at most a few KB; honoured, each would allocate 3-12 GB."""
    files = {}
    members = real_members([2, 1])
    # The .npy header of weights_0 claims 40000 x 40000 float64 (12.8 GB).
    lying = dict(members, weights_0=npy_bytes((40000, 40000), n_data=16))
    files["npy_header"] = archive(lying)
    # The zip directory claims 1.8 GB for it too, header and all.
    big = npy_bytes((15000, 15000), n_data=16)
    files["zip_size"] = forge_file_size(archive(dict(members, weights_0=big)), "weights_0.npy",
                                        len(big) - 16 + 15000 * 15000 * 8)
    # sizes [40000, 40000, 1]: a 12.8 GB network, with the members of a small one.
    files["sizes"] = archive(dict(members, sizes=npy_bytes((3,), "<i8", np.array([40000, 40000, 1]).tobytes())))
    paths = {}
    for case, content in files.items():
        assert len(content) < 3000
        (tmp_path / f"{case}.npz").write_bytes(content)
        paths[case] = str(tmp_path / f"{case}.npz")
    result = subprocess.run([sys.executable, "-c", _CHILD, str(300 << 20), json.dumps(paths)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["npy_header"] == (
        "ModelFileError: member 'weights_0.npy' declares shape (40000, 40000) of float64 "
        "(12800000000 bytes of data) but holds 16 bytes; not read")
    assert out["zip_size"].startswith("ModelFileError: member 'weights_0.npy' declares 1800000128 bytes in ")
    assert out["zip_size"].endswith("more than it can hold; not read")
    assert out["sizes"] == (
        "ModelFileError: entry 'weights_0' has shape (1, 2) and dtype float64, expected shape "
        "(40000, 40000) floating")


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(weights_0=npy_bytes((1, 2), "|O")), "holds dtype object, which fastnn never loads"),
        (dict(extra=npy_bytes((1,))), "unknown entries ['extra.npy'] in a fastnn model file; not read"),
        (dict(sizes=npy_bytes((2, 1), "<i8")), "'sizes' must be a vector of integers"),
        (dict(dtype=npy_bytes((2000,), "<U7")), "entry 'dtype' of shape (2000,) is too large"),
    ],
)
def test_specific_refusals(change, fragment, tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(archive(dict(real_members([2, 1]), **change)))
    with pytest.raises(ModelFileError) as info:
        fastnn.load(path)
    assert fragment in str(info.value)
