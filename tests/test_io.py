"""Tests of fastnn._io: output paths checked before work, rescue of outputs, atomic writes."""

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from fastnn._io import OutputPathError, atomic_write, check_outputs, write_or_rescue


def test_check_outputs_accepts_new_and_existing_files(tmp_path):
    (tmp_path / "old.json").write_text("{}")
    checked = check_outputs([("--save", tmp_path / "net.npz"), ("--json", tmp_path / "old.json"),
                             ("--plot", None)])
    assert checked == {"--save": tmp_path / "net.npz", "--json": tmp_path / "old.json"}
    assert sorted(os.listdir(tmp_path)) == ["old.json"]  # the probe file is gone


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d, "is a directory; give a file name"),
        (lambda d: d / "missing" / "net.npz", "net.npz: directory {d}/missing does not exist"),
        (lambda d: (d / "file").write_text("x") and d / "file" / "net.npz",
         "net.npz: {d}/file is not a directory"),
    ],
)
def test_check_outputs_refuses(make, fragment, tmp_path):
    path = make(tmp_path)
    with pytest.raises(OutputPathError) as info:
        check_outputs([("--save", path)])
    assert str(info.value).startswith(f"--save {path}")
    assert fragment.format(d=tmp_path) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.skipif(not os.path.isdir("/sys"), reason="needs Linux's /sys")
def test_check_outputs_tries_to_create_a_file():
    # /sys refuses new files even to root (os.access says root may write anywhere).
    with pytest.raises(OutputPathError, match=r"^--json /sys/history.json: cannot create a file in /sys \("):
        check_outputs([("--json", "/sys/history.json")])


def test_same_output_twice_is_refused(tmp_path):
    path = tmp_path / "net.npz"
    msg = f"--save and --json both name {path}: give each output its own file"
    with pytest.raises(OutputPathError, match=msg):
        check_outputs([("--save", path), ("--json", path)])
    # Two spellings of one file: "..", a symbolic link to the directory, a hard link.
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "sub")
    with pytest.raises(OutputPathError, match="both name"):
        check_outputs([("--save", path), ("--plot", tmp_path / "sub" / ".." / "net.npz")])
    with pytest.raises(OutputPathError, match="both name"):
        check_outputs([("--save", tmp_path / "sub" / "a"), ("--plot", tmp_path / "link" / "a")])
    path.write_text("x")
    os.link(path, tmp_path / "hard.npz")
    with pytest.raises(OutputPathError, match="both name"):
        check_outputs([("--save", path), ("--json", tmp_path / "hard.npz")])


def _writer(fail_in):
    written = []

    def write(path):
        if Path(path).parent == fail_in:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        with atomic_write(path) as (f, _):
            f.write(b"trained")
        written.append(Path(path))

    return write, written


def test_write_or_rescue_success(tmp_path):
    write, written = _writer(fail_in=None)
    assert write_or_rescue(write, tmp_path / "net.npz") == (tmp_path / "net.npz", None)
    assert written == [tmp_path / "net.npz"]


def test_write_or_rescue_writes_elsewhere_when_the_disk_is_full(tmp_path, monkeypatch):
    full = tmp_path / "full"
    full.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    write, written = _writer(fail_in=full)
    path, error = write_or_rescue(write, full / "net.npz")
    assert error.errno == errno.ENOSPC
    assert path.parent == work and path.name.startswith("fastnn-rescue-net-") and path.suffix == ".npz"
    assert path.read_bytes() == b"trained" and written == [path]
    assert os.listdir(full) == []
    # The current directory failing too: the temporary directory.
    write, written = _writer(fail_in=work)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    path, error = write_or_rescue(write, work / "net.npz")
    assert path.parent == tmp_path and path.read_bytes() == b"trained"


def test_write_or_rescue_when_everything_fails(tmp_path, monkeypatch):
    def write(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    path, error = write_or_rescue(write, tmp_path / "net.npz")
    assert path is None and isinstance(error, PermissionError)


def test_write_or_rescue_lets_other_errors_through(tmp_path):
    def write(path):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_or_rescue(write, tmp_path / "net.npz")


def test_atomic_write_refuses_a_path_that_is_not_a_regular_file(tmp_path):
    import fastnn

    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    net = fastnn.Network([2, 2], seed=0)
    with pytest.raises(FileExistsError, match="not a regular file"):
        net.save(fifo)
    assert fifo.is_fifo()  # left as it was
    with pytest.raises(OutputPathError, match=r"--save .*fifo.npz exists and is not a regular file"):
        check_outputs([("--save", fifo)])


def test_atomic_write_follows_a_symbolic_link(tmp_path):
    import fastnn

    target = tmp_path / "target.npz"
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    net = fastnn.Network([2, 2], seed=0)
    net.save(link)
    assert link.is_symlink() and target.is_file()
    np.testing.assert_array_equal(fastnn.load(target).params, net.params)


def test_network_too_large_for_memory_says_so():
    import fastnn

    with pytest.raises(MemoryError, match=r"sizes \[784, 1000000000, 10\] need .* GiB"):
        fastnn.Network([784, 10**9, 10])


def test_train_refuses_a_plot_format_before_reading_data(tmp_path, capsys):
    from fastnn.cli import main

    code = main(["train", "--data-dir", str(tmp_path / "no-data-here"), "--plot", str(tmp_path / "curves.txt")])
    err = capsys.readouterr().err
    assert code == 2
    assert "--plot" in err and "cannot write .txt files" in err
