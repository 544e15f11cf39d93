"""The ``fastnn`` command and the Numba configuration."""

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO, run_python

import fastnn
from fastnn import _config, cli, kernels
from fastnn.kernels import cache


def test_train_evaluate_round_trip(mnist_dir, tmp_path, capsys):
    model = tmp_path / "net.npz"
    code = cli.main(["train", "--sizes", "784,20,10", "--epochs", "2", "--seed", "3",
                     "--data-dir", str(mnist_dir), "--save", str(model), "--json", str(tmp_path / "h.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "Loaded mnist: 50,000 training and 10,000 test images" in out
    assert "Compiling kernels (float64" in out
    lines = [line for line in out.splitlines() if line.startswith("Epoch ")]
    assert [line.split(":")[0] for line in lines] == ["Epoch 0", "Epoch 1"]
    assert " / 10000  (" in lines[0] and "samples/s)" in lines[0]
    correct = int(lines[1].split(":")[1].split("/")[0])
    assert correct > 8500
    net = fastnn.load(model)
    assert net.sizes == (784, 20, 10)
    assert cli.main(["evaluate", str(model), "--data-dir", str(mnist_dir)]) == 0
    assert f"{correct} / 10000" in capsys.readouterr().out
    import json

    history = json.loads((tmp_path / "h.json").read_text())["history"]
    assert history[1]["test_correct"] == correct


def test_train_names_seed_and_says_when_nothing_is_trained(mnist_dir, tmp_path, capsys):
    assert cli.main(["train", "--seed", "-1", "--data-dir", str(mnist_dir)]) == 2
    assert "fastnn train: error: --seed must be >= 0, got -1" in capsys.readouterr().err
    model = tmp_path / "zero.npz"
    assert cli.main(["train", "--epochs", "0", "--seed", "0", "--mini-batch-size", "60000",
                     "--data-dir", str(mnist_dir), "--save", str(model)]) == 0
    out = capsys.readouterr().out
    assert "--epochs 0: nothing is trained; the network stays as initialised" in out
    assert "--mini-batch-size 60000 is more than the 50,000 training images" in out
    np.testing.assert_array_equal(fastnn.load(model).params, fastnn.Network([784, 30, 10], seed=0).params)


def test_train_divergence_keeps_the_saved_model(mnist_dir, tmp_path, monkeypatch, capsys):
    model = tmp_path / "net.npz"
    fastnn.Network([784, 5, 10], seed=0).save(model)
    before = model.read_bytes()
    for kernel in ("sgd_epoch", "sgd_epoch_bytes"):  # load_mnist's Datasets are bytes
        real = getattr(kernels, kernel)

        def diverge(net, *args, real=real):
            out = real(net, *args)
            net[0][:] = np.inf
            return out

        monkeypatch.setattr(kernels, kernel, diverge)
    code = cli.main(["train", "--sizes", "784,5,10", "--epochs", "1", "--eta", "50",
                     "--data-dir", str(mnist_dir), "--save", str(model)])
    err = capsys.readouterr().err
    assert code == 1
    assert "diverged in epoch 0" in err and "eta=50.0" in err and "was not written" in err
    assert model.read_bytes() == before


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--sizes", "784,x,10"], "--sizes must be comma-separated integers"),
        (["train", "--dtype", "float16"], "invalid choice"),
        (["train", "--dataset", "cifar"], "invalid choice"),
    ],
)
def test_bad_flags_are_rejected(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_invalid_values_reach_the_user_as_one_line(mnist_dir, capsys):
    assert cli.main(["train", "--eta", "-1", "--epochs", "1", "--data-dir", str(mnist_dir)]) == 2
    assert "eta must be a finite number > 0, got -1.0" in capsys.readouterr().err
    assert cli.main(["train", "--sizes", "780,30,10", "--epochs", "1", "--data-dir", str(mnist_dir)]) == 2
    assert "--sizes must start with 784 (the pixels) and end with 10" in capsys.readouterr().err


def test_a_missing_extra_is_one_line(tmp_path, capsys, monkeypatch):
    missing = str(tmp_path / "no-data")  # never read: the --plot check comes first

    def no_matplotlib(path, name):
        raise ImportError('fastnn.plot needs matplotlib, which is not installed: pip install "fastnn[plot]"')

    monkeypatch.setattr(cli.plot, "check_path", no_matplotlib)  # a missing extra: one line, no traceback
    assert cli.main(["train", "--plot", str(tmp_path / "c.png"), "--data-dir", missing]) == 2
    assert capsys.readouterr().err == (
        'fastnn train: error: fastnn.plot needs matplotlib, which is not installed: pip install "fastnn[plot]"\n'
    )


def test_evaluate_reports_a_bad_model_file(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"\n\n")
    assert cli.main(["evaluate", str(bad)]) == 2
    assert "bad.npz" in capsys.readouterr().err
    image = tmp_path / "digit.png"
    image.write_bytes(b"")
    assert cli.main(["predict", "--model", str(bad), str(image)]) == 2  # the same exit status for the same file
    assert "bad.npz" in capsys.readouterr().err


def test_python_dash_m_and_version():
    result = subprocess.run([sys.executable, "-m", "fastnn", "--version"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip() == f"fastnn {fastnn.__version__}"


def test_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    for name in ("sgd.sgd_epoch-1.py311.nbi", "sgd.sgd_epoch-1.py311.1.nbc", "other.txt", "sgd.py"):
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setattr(cache, "cache_dir", lambda: tmp_path)
    assert cli.main(["cache", "info"]) == 0
    assert "2 cached kernel files" in capsys.readouterr().out
    assert cli.main(["cache", "clear"]) == 0
    assert "Removed 2 cached kernel files" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt", "sgd.py"]


def test_cache_dir_is_where_numba_caches():
    fastnn.compile_kernels("float64")
    directory = cache.cache_dir()
    if _config.JIT_DISABLED or not _config.CACHE:
        assert directory is None
    else:
        assert directory is not None and any(directory.glob("sgd._sgd_epoch-*.nbi"))


def test_import_without_a_writable_cache_falls_back_to_memory():
    """Numba raises at decoration when no cache directory is writable; fastnn compiles in memory."""
    code = """
import numba
real = numba.njit
def njit(*args, **options):
    if not args and options.get("cache"):
        def decorate(f):
            raise RuntimeError("cannot cache function %r: no locator available for file '/ro/x.py'" % f.__name__)
        return decorate
    return real(*args, **options)
numba.njit = njit
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numpy as np
    import fastnn
    from fastnn import _config, kernels
z = np.array([-1000.0, 0.0, 1000.0]); out = np.empty(3)
kernels.sigmoid(z, out)
print(_config.cache_in_use, out.tolist(), len(caught), str(caught[0].message)[:40])
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:4] == ["False", "[0.0,", "0.5,", "1.0]"]
    assert "1 fastnn: no writable Numba cache" in result.stdout


@pytest.mark.parametrize("flags", ["fast", "reassoc,nnan", "ninf", "arcp"])
def test_fastmath_flags_that_hide_nan_are_refused(flags):
    result = run_python("import fastnn", FASTNN_FASTMATH=flags)
    assert result.returncode != 0
    assert "FASTNN_FASTMATH must not contain" in result.stderr


def test_fastmath_parsing():
    assert _config._parse_fastmath("off") is False
    assert _config._parse_fastmath("reassoc, contract") == {"reassoc", "contract"}
    assert _config.FASTMATH == {"reassoc", "contract", "nsz"} or "FASTNN_FASTMATH" in os.environ


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--save", "/nonexistent-dir/m.npz"],
         "--save /nonexistent-dir/m.npz: directory /nonexistent-dir does not exist"),
        (["train", "--json", "/"], "--json / is a directory"),
        (["train", "--seed", "-1"], "seed must be >= 0, got -1"),
        (["train", "--epochs", "-1"], "--epochs must be >= 0, got -1"),
        (["train", "--mini-batch-size", "0"], "--mini-batch-size must be >= 1, got 0"),
        (["train", "--sizes", "10,10"], "--sizes must start with 784"),
        (["train", "--sizes", "784,0,10"], "--sizes must be layer sizes >= 1, got 784,0,10"),
        (["train", "--monitor", "evaluation_cost"],
         "--monitor evaluation_cost is measured on the validation images: add --validation"),
        (["train", "--n-jobs", "0"], "--n-jobs must be -1 or between 1 and"),
        (["train", "--n-jobs", "100000"], "(NUMBA_NUM_THREADS), got 100000"),
        (["reproduce", "chapter1", "--json", "/nonexistent-dir/r.json"], "directory /nonexistent-dir does not exist"),
    ],
)
def test_cli_checks_arguments_before_loading_data(argv, fragment, capsys, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("data were loaded before the arguments were checked")

    monkeypatch.setattr(cli, "_load", no_data)
    from fastnn import datasets

    monkeypatch.setattr(datasets, "load_mnist", no_data)
    assert cli.main(argv + ["--data-dir", "/nonexistent-data"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


# -- no lost work ----------------------------------------------------------------------------


def test_the_same_output_twice_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_load", lambda *a: pytest.fail("data loaded before the outputs were checked"))
    path = tmp_path / "out"
    assert cli.main(["train", "--save", str(path), "--json", str(path)]) == 2
    assert f"--save and --json both name {path}: give each output its own file" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    assert cli.main(["train", "--save", str(tmp_path / "d" / ".." / "out"), "--json", str(path)]) == 2
    assert "both name" in capsys.readouterr().err


def _epochs_that(action, monkeypatch):
    """Patch both epoch kernels (load_mnist's Datasets are bytes) to call ``action(k)`` on
    the k-th epoch call before training it."""
    count = []
    for name in ("sgd_epoch", "sgd_epoch_bytes"):
        real = getattr(kernels, name)

        def epoch(*args, real=real):
            count.append(1)
            action(len(count))
            return real(*args)

        monkeypatch.setattr(kernels, name, epoch)


def test_a_failed_save_keeps_the_trained_network(mnist_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    out.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def remove_results(epoch):  # the directory goes away while the network trains
        if epoch == 1:
            out.rmdir()

    _epochs_that(remove_results, monkeypatch)
    code = cli.main(["train", "--sizes", "784,5,10", "--epochs", "1", "--seed", "0",
                     "--data-dir", str(mnist_dir), "--save", str(out / "net.npz")])
    err = capsys.readouterr().err
    assert code == 1
    [rescued] = list(work.iterdir())
    assert rescued.name.startswith("fastnn-rescue-net-") and rescued.suffix == ".npz"
    assert (f"fastnn train: error: cannot write --save {out / 'net.npz'} ({out} does not exist: cannot write "
            f"net.npz there); the trained network was written to {rescued} instead") in err
    assert fastnn.load(rescued).sizes == (784, 5, 10)
