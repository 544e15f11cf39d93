"""The kernels' on-disk cache (fastnn.kernels.cache): its directories, counts and guard.

The tests that compile run fresh interpreters with their own ``NUMBA_CACHE_DIR`` (and a
copy of the package where they edit it), so what one run caches the next one loads.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastnn import _config
from fastnn.kernels import cache

REPO = Path(__file__).resolve().parents[1]
SETTINGS = ("FASTNN_FASTMATH", "FASTNN_FLUSH_DENORMALS", "FASTNN_ROW_KERNELS", "FASTNN_KERNEL_CACHE", "FASTNN_CACHE")

# Two small kernels; prints sigmoid(-1, 0, 2), Numba's cache hits and misses over
# fastnn's kernels in this process, and the cache directory.
RUN = """
import numpy as np
from fastnn import kernels
from fastnn.kernels import cache
z = np.array([-1.0, 0.0, 2.0]); out = np.empty(3)
kernels.sigmoid(z, out)
kernels.csr(np.eye(2))
print(",".join(map(repr, out.tolist())), *cache.counts(), cache.cache_dir())
"""


def run(root, **env):
    """:data:`RUN` with ``root`` first on the path and fastnn's settings at their defaults.

    Returns ``(outputs, hits, misses, cache directory)``.
    """
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    environ.update(PYTHONPATH=str(root), **env)
    result = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, env=environ, cwd=root)
    assert result.returncode == 0, result.stderr
    out, hits, misses, directory = result.stdout.split()
    return [float(v) for v in out.split(",")], int(hits), int(misses), Path(directory)


needs_jit = pytest.mark.skipif(_config.JIT_DISABLED, reason="nothing is compiled or cached without the JIT")


@pytest.mark.slow
@needs_jit
def test_guard_drops_entries_compiled_against_an_edited_helper(tmp_path):
    """Numba keys a cached kernel by its own file only: ``sigmoid`` (sgd.py) would keep serving
    code built from the old ``float64_from_bits`` (_llvm.py). The guard drops it."""
    shutil.copytree(REPO / "fastnn", tmp_path / "fastnn", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first = run(tmp_path, **env)
    again = run(tmp_path, **env)
    assert first[0][1] == 0.5 and first[2] > 0  # compiled ...
    assert again[0] == first[0] and again[1] > 0 and again[2] == 0  # ... then loaded from the cache
    assert first[3] == again[3] and first[3].parent == tmp_path / "cache" / "fastnn-kernels"

    llvm = tmp_path / "fastnn" / "kernels" / "_llvm.py"
    text = llvm.read_text()
    line = "return builder.bitcast(args[0], ir.DoubleType())"
    assert text.count(line) == 1
    # 2**k read one exponent step too high: exp(x) comes out 4x (two factors), so sigmoid(0) = 1 / (1 + 4).
    llvm.write_text(text.replace(line, "return builder.bitcast(builder.add(args[0], ir.Constant(I64, 1 << 52)), ir.DoubleType())"))
    after = run(tmp_path, **env)
    assert after[2] > 0 and after[0][1] == pytest.approx(0.2, rel=1e-15)


@pytest.mark.slow
@needs_jit
def test_non_default_fastmath_hits_its_own_cache(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "FASTNN_FASTMATH": "reassoc,contract"}
    first = run(REPO, **env)
    second = run(REPO, **env)
    assert first[2] > 0 and second[1] > 0 and second[2] == 0
    assert second[0] == first[0]
    assert second[3].parent == tmp_path / "fastnn-kernels"
    assert second[3].name == cache.settings_hash(_config.compile_settings({"FASTNN_FASTMATH": "reassoc,contract"}))
    assert second[3].name != cache.settings_hash(_config.compile_settings({}))


@pytest.mark.parametrize(
    "env",
    [{"FASTNN_FASTMATH": "0"}, {"FASTNN_FASTMATH": "reassoc"}, {"FASTNN_FLUSH_DENORMALS": "0"}, {"FASTNN_ROW_KERNELS": "loops"}],
)
def test_each_set_of_compile_options_has_a_directory_of_its_own(env):
    """Numba's cache key ignores compile options: a kernel cached under other flags would be stale."""
    default = cache.settings_hash(_config.compile_settings({}))
    assert cache.settings_hash(_config.compile_settings(env)) != default
    assert len(default) == 12 and int(default, 16) >= 0


@pytest.mark.parametrize("name", ["FASTNN_KERNEL_CACHE", "FASTNN_CACHE"])
def test_kernel_cache_switch_and_its_old_name(name):
    code = "from fastnn import _config; from fastnn.kernels import cache; print(_config.CACHE, cache.cache_dir())"
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    environ.update(PYTHONPATH=str(REPO), **{name: "0"})
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "None"]


def test_sources_cover_every_kernel_file():
    names = {p.name for p in cache.SOURCES}
    assert {"sgd.py", "rows.py", "_llvm.py", "_cpu.py", "cache.py", "__init__.py", "_config.py", "_layout.py"} <= names


def test_guard_keeps_matching_entries_and_drops_stale_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "_directory", [tmp_path])
    monkeypatch.setattr(_config, "CACHE", True)
    monkeypatch.setattr(_config, "JIT_DISABLED", False)
    for name in ("sgd.sgd_epoch-1.py311.nbi", "sgd.sgd_epoch-1.py311.1.nbc", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert cache.guard() == 2  # no guard file yet: entries of unknown sources are dropped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fastnn-sources.sha256", "notes.txt"]
    (tmp_path / "sgd.sgd_epoch-1.py311.nbi").write_bytes(b"x")
    assert cache.guard() == 0 and (tmp_path / "sgd.sgd_epoch-1.py311.nbi").exists()  # same sources: kept
    (tmp_path / "fastnn-sources.sha256").write_text("0" * 64)
    assert cache.guard() == 1 and not (tmp_path / "sgd.sgd_epoch-1.py311.nbi").exists()
