"""Perceptrons and the NAND adder from Chapter 1, and the two exercises on them.

Run: python examples/perceptron_circuits.py
"""

import numpy as np

from fastnn.book.perceptrons import cheese_festival, nand_perceptron, two_bit_adder

# Eq. (1): go to the cheese festival if 6*weather + 2*partner + 2*transit > threshold.
for threshold in (5, 3):
    p = cheese_festival(threshold)
    go = [x for x in np.ndindex(2, 2, 2) if p(x)]
    print(f"threshold {threshold}: go for (weather, partner, transit) in {go}")

# Eq. (2): the NAND gate, weights -2, -2 and bias 3.
nand = nand_perceptron()
print("\nNAND:", {x: nand(x) for x in [(0, 0), (0, 1), (1, 0), (1, 1)]})

# A network of NAND perceptrons adding two bits; x1, x2 are plain input sources.
adder = two_bit_adder()
x, y = adder.truth_table()
print("\nx1 x2 | sum carry")
for (x1, x2), (s, c) in zip(x, y):
    print(f" {x1}  {x2} |  {s}    {c}")
merged = two_bit_adder(merged=True)
print("carry unit with one -4 link instead of two -2 links gives the same table:",
      np.array_equal(merged.truth_table()[1], y))

# Exercise 1: multiply every weight and bias by c > 0 and nothing changes.
print("\nscaled by c = 0.001, 7, 1e6 -> same table:",
      all(np.array_equal(adder.scaled(c).truth_table()[1], y) for c in (0.001, 7, 1e6)))

# Exercise 2: sigmoid neurons with weights and biases c w, c b approach the perceptrons...
for c in (1, 5, 20, 1000):
    err = np.abs(adder.run_sigmoid(x, c=c) - y).max()
    print(f"sigmoid adder, c = {c:>4}: largest difference from the perceptrons {err:.2e}")
# ...unless some neuron has w . x + b = 0: threshold 4 with partner and transit only.
p = cheese_festival(4)
print("\nthreshold 4, x = (0, 1, 1): z =", p.weighted_input([0, 1, 1]),
      "perceptron:", p([0, 1, 1]), "sigmoid with c = 1e6:", p.as_sigmoid(1e6)([0, 1, 1]))
