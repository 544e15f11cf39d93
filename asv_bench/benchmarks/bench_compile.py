"""Import plus the first epoch (or plus compiling) in a fresh interpreter: what a user waits for once.

The timed statement is ``import fastnn`` (which imports numba) and one epoch of the Numba
implementation on 50,000 images, float64, m = 10, compilation included. The set-up,
untimed, reads MNIST with numpy alone (so numpy's own import is not timed) and points
``NUMBA_CACHE_DIR`` at a cache that is either new and empty (``cold``: everything
compiles) or filled beforehand (``cached``: the kernels load from disk).
"""

import os
import subprocess
import sys
import tempfile

from . import THREAD_ENV
from .common import mnist_dir

_CACHED_DIR = os.path.join(tempfile.gettempdir(), f"fastnn-asv-numba-cache-{os.getuid()}")

_SETUP = """
import os
os.environ.update({env!r})
import atexit, gzip, shutil, tempfile
if {cold!r}:
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastnn-asv-cold-")
    atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], True)
else:
    os.environ["NUMBA_CACHE_DIR"] = {cached_dir!r}
import numpy as np

def _read(name, offset):
    path = os.path.join({data_dir!r}, name)
    opener = gzip.open if os.path.exists(path + ".gz") else open
    with opener(path + ".gz" if opener is gzip.open else path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)

X = (_read("train-images-idx3-ubyte", 16).reshape(-1, 784)[:50000] / 255.0).astype(np.float64)
y = _read("train-labels-idx1-ubyte", 8)[:50000].astype(np.int64)
Y = np.zeros((50000, 10))  # fastnn.validation.one_hot, written out: this set-up must not import fastnn
Y[np.arange(50000), y] = 1
perm = np.random.default_rng(0).permutation(50000)
"""

_STMT = """
import fastnn
from fastnn.bench.implementations import IMPLEMENTATIONS
IMPLEMENTATIONS["numba"](fastnn.Network([784, 30, 10], seed=0)).epoch(X, Y, perm, 10, 3.0)
"""


_COMPILE_STMT = """
import fastnn
fastnn.Dataset(np.zeros((2, 784), np.uint8), np.array([0, 1]))  # the index kernels of load_mnist's Datasets
fastnn.compile_kernels("float64", inputs="bytes")  # the epoch and the evaluation of `fastnn train`
"""


class ImportAndFirstEpoch:
    params = ["cold", "cached"]
    param_names = ["numba_cache"]
    timeout = 600
    number = 1
    repeat = (1, 3, 120.0)
    env = dict(THREAD_ENV)

    def setup(self, cache):
        directory = mnist_dir()
        if directory is None:
            raise NotImplementedError("MNIST not found: set FASTNN_DATA")
        self.data_dir = str(directory)
        if cache == "cached":  # fill the cache the timed runs load from (untimed)
            code = self._code(cache)
            subprocess.run([sys.executable, "-c", code[1] + code[0]], check=True)

    def _code(self, cache):
        setup = _SETUP.format(env=dict(THREAD_ENV), cold=cache == "cold", cached_dir=_CACHED_DIR,
                              data_dir=self.data_dir)
        return _STMT, setup

    def timeraw_import_and_first_epoch(self, cache):
        """Seconds for ``import fastnn`` plus one 50,000-image epoch, compile included."""
        return self._code(cache)

    def timeraw_import_and_compile(self, cache):
        """Seconds for ``import fastnn`` plus what the first ``fastnn train`` compiles: the
        index of a Dataset of bytes, ``compile_kernels("float64", inputs="bytes")`` (the
        epoch and the evaluation)."""
        return _COMPILE_STMT, self._code(cache)[1]
