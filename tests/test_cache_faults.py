"""Faults in Numba's on-disk cache never escape: fastnn compiles in memory and warns once.

Each fault is made for real in a temporary cache directory -- truncated and garbage
entries, a corrupt index, the cache directory gone (a file in its place) and a full disk
(RLIMIT_FSIZE) when the kernel is saved -- and met in one child process (a fault must
not end the test run); the cache is written and read back in this process. The kernel is
a one-line function compiled through ``fastnn._config.jit``, the decorator of every fastnn
kernel.
"""

import json
import os
import subprocess
import sys

import pytest

from fastnn import _config

CASES = ("truncated", "garbage", "index", "gone", "full")

CHILD = r"""
import json, os, resource, shutil, signal, sys, warnings
from pathlib import Path
import numba
from fastnn import _config
from fastnn.kernels import cache as kernel_cache

phase, root = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, str(root / "src"))
results = {}
for case in sys.argv[3].split(","):
    cache = root / "cache" / case
    numba.config.CACHE_DIR = str(cache)  # read when a cached function is decorated
    kernel_cache.cache_fault = None  # warn-once is per process: reset between cases
    if phase == "faults" and case == "gone":
        shutil.rmtree(cache, ignore_errors=True)
    if phase == "faults" and case == "full":
        shutil.rmtree(cache, ignore_errors=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = __import__(f"probe_{case}")
        if phase == "faults" and case == "gone":
            shutil.rmtree(cache)
            cache.write_text("not a directory")  # where the cache directory was
        if phase == "faults" and case == "full":
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))  # writes fail with EFBIG
        value = module.add_one(1.5)
    hits = sum(module.add_one.stats.cache_hits.values())
    results[case] = [value, hits, [str(w.message) for w in caught]]
print(json.dumps(results))
"""

PROBE = '''from fastnn._config import jit


@jit
def add_one(x):
    return x + 1.0
'''


def run_child(phase, root, cases):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTNN_", "NUMBA_"))}
    result = subprocess.run([sys.executable, "-c", CHILD, phase, str(root), ",".join(cases)],
                            env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def cache_files(root, case, suffix):
    return sorted((root / "cache" / case).rglob(f"*{suffix}"))


@pytest.fixture
def probes(tmp_path, monkeypatch):
    """Import ``probe_<case>`` with Numba's cache in ``tmp_path/cache/<case>``, in this process."""
    import importlib

    import numba

    (tmp_path / "src").mkdir()
    for case in CASES:
        (tmp_path / "src" / f"probe_{case}.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))

    def run(cases):
        out = {}
        for case in cases:
            monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "cache" / case))
            sys.modules.pop(f"probe_{case}", None)  # a fresh dispatcher, which reads the disk
            module = importlib.import_module(f"probe_{case}")
            out[case] = [module.add_one(1.5), sum(module.add_one.stats.cache_hits.values()), []]
        return out

    yield run
    for case in CASES:
        sys.modules.pop(f"probe_{case}", None)


@pytest.mark.skipif(_config.JIT_DISABLED or not _config.CACHE, reason="no disk cache")
def test_cache_faults_compile_in_memory_and_warn_once(tmp_path, probes):
    cold = probes(CASES)  # compiled and written to each case's cache, here (no fault: no warning)
    assert cold == {case: [2.5, 0, []] for case in CASES}
    for case in CASES:
        assert len(cache_files(tmp_path, case, ".nbi")) == 1 and cache_files(tmp_path, case, ".nbc")

    for nbc in cache_files(tmp_path, "truncated", ".nbc"):
        nbc.write_bytes(nbc.read_bytes()[: nbc.stat().st_size // 2])
    for nbc in cache_files(tmp_path, "garbage", ".nbc"):
        nbc.write_bytes(b"\x80\x04garbage that is no pickle" * 10)
    for nbi in cache_files(tmp_path, "index", ".nbi"):
        nbi.write_bytes(nbi.read_bytes()[:20])

    faults = run_child("faults", tmp_path, CASES)  # one process: a fault may end it
    for case, (value, hits, caught) in faults.items():
        assert value == 2.5, case  # the right answer, compiled in memory
        assert hits == 0, case
        assert len(caught) == 1, (case, caught)  # warned once
        [message] = caught
        directory = tmp_path / "cache" / case
        assert message.startswith(f"fastnn: Numba's kernel cache in {directory}"), message
        assert message.endswith("compiling the kernels in memory instead. Run `fastnn cache "
                                "clear` to reset the cache."), message
    for case in ("truncated", "garbage", "index"):
        assert "could not be read (UnpicklingError: pickle data was truncated)" in faults[case][2][0]
    assert "could not be read (NotADirectoryError" in faults["gone"][2][0]
    assert "could not be written (OSError: [Errno 27] File too large" in faults["full"][2][0]

    # A corrupt entry was overwritten by the compile that replaced it: it loads again.
    assert probes(("truncated", "garbage")) == {"truncated": [2.5, 1, []], "garbage": [2.5, 1, []]}


@pytest.mark.skipif(_config.JIT_DISABLED or not _config.CACHE, reason="no disk cache")
def test_every_fastnn_kernel_has_a_guarded_cache():
    import sys

    import numba

    from fastnn.kernels import cache

    dispatchers = [
        v for name, module in list(sys.modules.items()) if name.startswith("fastnn.kernels.") and module
        for v in vars(module).values() if isinstance(v, numba.core.registry.CPUDispatcher)
    ]
    assert len(dispatchers) >= 5
    for d in dispatchers:
        if d._cache.__class__.__name__ != "NullCache":
            assert isinstance(d._cache, cache._GuardedCache), d


@pytest.mark.skipif(_config.JIT_DISABLED or not _config.CACHE, reason="no disk cache")
def test_a_full_disk_at_import_compiles_in_memory(tmp_path):
    """The cache guard writes a stamp at import; a disk that takes no byte must not stop fastnn."""
    code = (
        "import resource, signal, warnings\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))\n"
        "warnings.simplefilter('always')\n"
        "import fastnn\n"
        "from fastnn import _config\n"
        "print(_config.cache_in_use, fastnn.Network([2, 1], seed=0).sizes)\n"  # compiling: the test above
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTNN_", "NUMBA_"))}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=240, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.split() == ["False", "(2,", "1)"]  # the disk cache is off: kernels compile in memory
    assert "fastnn: Numba's kernel cache in " in result.stderr
    assert "could not be refreshed (OSError: [Errno 27] File too large)" in result.stderr
    assert result.stderr.count("Run `fastnn cache clear` to reset the cache.") == 1
