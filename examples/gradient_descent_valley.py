"""Gradient descent rolling down the book's valley C(v1, v2) = v1^2 + v2^2 (Eq. 7-15).

Run: python examples/gradient_descent_valley.py
"""

import numpy as np

from fastnn.book.gradient_descent import gradient_descent, valley, valley_gradient

start = [0.9, -0.6]

# Eq. (15): v -> v - eta grad C, with the exact gradient 2 v.
path = gradient_descent(valley, start, grad=valley_gradient, eta=0.1, steps=20)
print("eta = 0.1, exact gradient")
for k in (0, 1, 2, 5, 10, 20):
    v = path.v[k]
    print(f"  step {k:2d}: v = ({v[0]:+.5f}, {v[1]:+.5f})  C = {path.cost[k]:.6f}")
# Eq. (9)/(11): for small steps Delta C ~ -eta |grad C|^2.
print(f"  first step: Delta C = {path.cost[1] - path.cost[0]:.5f}, "
      f"Eq. (11) predicts {path.predicted_change[0]:.5f}")

# Without a gradient function: central differences, 2 calls of C per variable per step.
numeric = gradient_descent(valley, start, eta=0.1, steps=20)
print("numerical gradient, same path to within", np.abs(numeric.v - path.v).max())

# Fixed step length epsilon: eta = epsilon / |grad C|; it cannot settle closer than epsilon.
fixed = gradient_descent(valley, start, grad=valley_gradient, epsilon=0.25, steps=8)
print("epsilon = 0.25, distance from the minimum:", np.round(np.linalg.norm(fixed.v, axis=1), 3))

# Too large a learning rate: |1 - 2 eta| > 1 and the descent diverges.
try:
    gradient_descent(valley, start, grad=valley_gradient, eta=5.0, steps=1000)
except FloatingPointError as exc:
    print("eta = 5:", exc)

# Any number of variables: a ten-dimensional valley.
ten = gradient_descent(valley, np.ones(10), grad=valley_gradient, eta=0.25, steps=60, tol=1e-12)
print(f"10 variables: converged={ten.converged} after {ten.n_steps} steps, C = {ten.cost[-1]:.1e}")
