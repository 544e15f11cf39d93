"""The examples in examples/ run and print what the chapter says they should."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, capsys, monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name), *map(str, args)])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def test_perceptron_circuits(capsys, monkeypatch):
    out = run_example("perceptron_circuits.py", capsys, monkeypatch)
    assert "NAND: {(0, 0): 1, (0, 1): 1, (1, 0): 1, (1, 1): 0}" in out
    assert " 1  1 |  0    1" in out  # 1 + 1 = carry 1, sum 0
    assert "same table: True" in out and "False" not in out
    assert "perceptron: 0 sigmoid with c = 1e6: 0.5" in out


def test_gradient_descent_valley(capsys, monkeypatch):
    out = run_example("gradient_descent_valley.py", capsys, monkeypatch)
    assert "step  1: v = (+0.72000, -0.48000)  C = 0.748800" in out  # 0.8 * (0.9, -0.6)
    assert "eta = 5: gradient descent diverged" in out
    assert "10 variables: converged=True" in out


@pytest.mark.slow
def test_train_digits(capsys, monkeypatch, mnist_dir):
    out = run_example("train_digits.py", capsys, monkeypatch, mnist_dir, 1)
    assert "Epoch 0:" in out and "peak " in out
    assert "Network(sizes=[784, 30, 10, 4]" in out
