"""Time a 16-configuration sweep (784-30-10, 5 epochs, 50,000 MNIST images), locally and on Dask.

    FASTNN_DATA=../shared/data/mnist python tools/sweep_timing.py [--cold]

Prints the wall time of each, where the Dask run's time went (starting the cluster,
shipping the data, compiling on the workers) and checks that both give the same
parameters bit for bit. ``--cold`` gives the workers an empty Numba cache, so they compile
from scratch. The numbers go in docs/performance.md.
"""

import os
import sys
import tempfile
import time

import numpy as np


def main():
    import distributed

    import fastnn

    cold = "--cold" in sys.argv
    train, _validation, test = fastnn.load_mnist()
    grid = {"sizes": [[784, 30, 10]], "eta": [0.5, 1.0, 3.0, 5.0], "seed": [0, 1, 2, 3], "epochs": 5}
    fastnn.compile_kernels("float64")
    t0 = time.perf_counter()
    local = fastnn.sweep(grid, train, test, n_jobs=-1, return_networks=True)
    local_wall = time.perf_counter() - t0
    print(f"local threads ({local.timings['n_threads']}): {local_wall:.2f} s wall, {local.timings['n_tasks']} tasks")

    if cold:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastnn-cold-")  # the workers inherit it
    t0 = time.perf_counter()
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        started = time.perf_counter() - t0
        t0 = time.perf_counter()
        [f64] = client.scatter([train[0]], broadcast=True)
        f64_ship = time.perf_counter() - t0
        client.cancel(f64)
        t0 = time.perf_counter()
        remote = fastnn.sweep(grid, train, test, client=client, return_networks=True)
        remote_wall = time.perf_counter() - t0
    t = remote.timings
    compile_s = ", ".join(f"{s:.2f}" for s in t["compile_seconds"].values())
    print(f"LocalCluster 2 processes x 1 thread: started in {started:.2f} s")
    print(
        f"  sweep {remote_wall:.2f} s wall, {t['n_tasks']} tasks; data shipped in {t['ship_seconds']:.2f} s "
        f"({t['ship_bytes'] / 1e6:.1f} MB, {'uint8' if t['compact'] else 'float'}); "
        f"compiling per worker {compile_s} s ({'empty cache' if cold else 'from the Numba cache'})"
    )
    print(
        f"  for comparison, scattering the training images as float64 ({train[0].nbytes / 1e6:.0f} MB): "
        f"{f64_ship:.2f} s"
    )
    same = all(np.array_equal(a["network"].params, b["network"].params) for a, b in zip(local, remote))
    print(f"  parameters equal to the local sweep bit for bit: {same}")
    print(f"  best: {remote.best()['best_accuracy']:.4f} at eta={remote.best()['eta']}, seed={remote.best()['seed']}")
    print(
        f"  sum of configuration seconds: local {sum(r['seconds'] for r in local):.2f}, "
        f"Dask {sum(r['seconds'] for r in remote):.2f}"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
