"""Gradient descent on any function of any number of variables (Nielsen Chapter 1, Eq. 7-15).

The chapter introduces gradient descent before neural networks: to minimise a cost ``C(v)``
of variables ``v = (v_1, ..., v_n)``, repeatedly move ``v -> v' = v - eta grad C`` (Eq. 15).
For a small step the change of the cost is ``Delta C ~ grad C . Delta v`` (Eq. 9, 12), which
with ``Delta v = -eta grad C`` (Eq. 10) is ``-eta |grad C|^2 <= 0`` (Eq. 11): the cost goes
down. :func:`gradient_descent` runs this rule on a user's ``C``, with its gradient or a
central-difference one, and returns the whole trajectory. The fixed-step-size view, in which
``eta = epsilon / |grad C|`` so that every step has length ``epsilon``, is an option.

Examples
--------
>>> from fastnn.book.gradient_descent import gradient_descent, valley, valley_gradient
>>> path = gradient_descent(valley, [1.0, -0.5], grad=valley_gradient, eta=0.25, steps=3)
>>> path.v                      # each step halves v: v' = (1 - 2 eta) v
array([[ 1.    , -0.5   ],
       [ 0.5   , -0.25  ],
       [ 0.25  , -0.125 ],
       [ 0.125 , -0.0625]])
>>> float(path.cost[-1])        # 0.125**2 + 0.0625**2
0.01953125
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "GradientDescentResult",
    "gradient_descent",
    "numerical_gradient",
    "valley",
    "valley_gradient",
]


@dataclass(frozen=True)
class GradientDescentResult:
    """The trajectory of :func:`gradient_descent`.

    Attributes
    ----------
    v : ndarray of shape (n_steps + 1, n_variables)
        ``v[0]`` is the start; ``v[k]`` the position after ``k`` steps.
    cost : ndarray of shape (n_steps + 1,)
        ``C(v[k])``.
    grad_norm : ndarray of shape (n_steps + 1,)
        ``|grad C(v[k])|``, the Euclidean norm.
    eta : ndarray of shape (n_steps,)
        The learning rate used for each step: constant, or ``epsilon / |grad C|`` in
        fixed-step-size mode.
    predicted_change : ndarray of shape (n_steps,)
        ``grad C(v[k]) . Delta v = -eta_k |grad C(v[k])|^2``, the first-order estimate of
        ``cost[k + 1] - cost[k]`` (Eq. 9 and 11).
    converged : bool
        True if the run stopped early because ``|grad C| <= tol``.
    """

    v: np.ndarray
    cost: np.ndarray
    grad_norm: np.ndarray
    eta: np.ndarray
    predicted_change: np.ndarray
    converged: bool

    @property
    def n_steps(self):
        """int: number of steps taken (may be fewer than asked if the run converged)."""
        return self.eta.shape[0]

    @property
    def v_final(self):
        """ndarray of shape (n_variables,): the last position."""
        return self.v[-1]


def valley(v):
    """The book's two-variable valley ``C(v) = v_1^2 + v_2^2`` (any number of variables).

    The function drawn in the chapter's picture of a valley (``fig/valley.py`` in the book's
    repository plots ``X**2 + Y**2``). Its minimum is 0 at ``v = 0``.

    Parameters
    ----------
    v : array_like of shape (n_variables,)

    Returns
    -------
    float
    """
    v = np.asarray(v, dtype=np.float64)
    return float(v @ v)


def valley_gradient(v):
    """Gradient of :func:`valley`: ``grad C = 2 v`` (Eq. 8).

    Parameters
    ----------
    v : array_like of shape (n_variables,)

    Returns
    -------
    ndarray of shape (n_variables,)
    """
    return 2.0 * np.asarray(v, dtype=np.float64)


def _check_positive(name, value, *, allow_zero=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and np.isfinite(value)):
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {rule} and finite, got {value}")
    return value


def _check_v0(v0):
    try:
        v = np.asarray(v0)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise ValueError(f"v0 must be a 1-D array of real numbers: {exc}") from None
    if v.dtype == np.bool_ or not (
        np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)
    ):
        raise TypeError(f"v0 must be a 1-D array of real numbers, got dtype {v.dtype}")
    if v.ndim != 1:
        raise ValueError(
            f"v0 must be 1-D (one entry per variable), got shape {v.shape}"
            + ("; write [v] for a function of one variable" if v.ndim == 0 else "")
        )
    if v.size == 0:
        raise ValueError("v0 must have at least one variable, got shape (0,)")
    v = v.astype(np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"v0 must be finite, got {v.tolist()}")
    return v


def _call_cost(cost, v):
    c = cost(v.copy())
    try:
        return float(c)
    except (TypeError, ValueError):
        shape = getattr(c, "shape", None)
        got = f"an array of shape {shape}" if shape is not None else repr(c)
        raise TypeError(f"cost(v) must return a real scalar, got {got}") from None


def numerical_gradient(cost, v, h=1e-6):
    """Central-difference gradient ``(C(v + h_i e_i) - C(v - h_i e_i)) / (2 h_i)``.

    Each ``h_i = h * max(1, |v_i|)``, so the step is relative for large coordinates. The
    error is O(h^2) times the third derivative plus O(eps C / h) from rounding; ``h = 1e-6``
    gives about 1e-9 relative accuracy for smooth functions of order 1.

    Parameters
    ----------
    cost : callable
        ``cost(v) -> float`` for ``v`` an ndarray of shape (n_variables,).
    v : array_like of shape (n_variables,)
        Point at which to differentiate; finite.
    h : float, default 1e-6
        Relative step, > 0.

    Returns
    -------
    ndarray of shape (n_variables,), float64
        Costs ``2 n_variables`` calls of `cost`.

    Raises
    ------
    TypeError
        If `cost` is not callable or does not return a real scalar.
    ValueError
        If `v` is not a finite 1-D array, or `h` is not > 0 and finite.

    Examples
    --------
    >>> numerical_gradient(valley, [1.0, -2.0])
    array([ 2., -4.])
    """
    if not callable(cost):
        raise TypeError(f"cost must be callable, got {type(cost).__name__}")
    v = _check_v0(v)
    h = _check_positive("h", h)
    return _central_difference(cost, v, h)


def _central_difference(cost, v, h):
    grad = np.empty_like(v)
    for i in range(v.size):
        hi = h * max(1.0, abs(v[i]))
        vp, vm = v.copy(), v.copy()
        vp[i] += hi
        vm[i] -= hi
        grad[i] = (_call_cost(cost, vp) - _call_cost(cost, vm)) / (vp[i] - vm[i])
    return grad


def gradient_descent(cost, v0, *, grad=None, eta=None, epsilon=None, steps=100, tol=0.0, h=1e-6):
    """Minimise ``cost(v)`` by gradient descent, ``v -> v - eta grad C(v)`` (Eq. 15).

    Give exactly one of `eta` (a fixed learning rate, Eq. 10) or `epsilon` (a fixed step
    length: ``eta = epsilon / |grad C|`` each step, so ``|Delta v| = epsilon``, the view the
    chapter takes of Eq. 10 as the best small move of a given size).

    Parameters
    ----------
    cost : callable
        ``cost(v) -> float``, the function ``C`` to minimise, for ``v`` an ndarray of shape
        (n_variables,). It receives a copy and may modify it.
    v0 : array_like of shape (n_variables,)
        Starting point; real and finite.
    grad : callable, optional
        ``grad(v) -> array of shape (n_variables,)``, the gradient ``grad C`` (Eq. 8 and 12).
        If omitted, a central-difference gradient (:func:`numerical_gradient`) is used, at
        ``2 n_variables`` calls of `cost` per step.
    eta : float, optional, keyword-only
        Learning rate, > 0 and finite.
    epsilon : float, optional, keyword-only
        Step length, > 0 and finite (fixed-step-size mode).
    steps : int, default 100
        Maximum number of steps, >= 0.
    tol : float, default 0.0
        Stop early, with ``converged=True``, once ``|grad C| <= tol``. With the default the
        run stops only at an exactly zero gradient (where no step can move ``v``).
    h : float, default 1e-6
        Relative step of the numerical gradient; unused when `grad` is given.

    Returns
    -------
    GradientDescentResult
        The trajectory ``v`` of shape (n_steps + 1, n_variables), the costs, gradient norms,
        learning rates and the predicted cost changes of Eq. (9).

    Raises
    ------
    TypeError
        If `cost` or `grad` is not callable, an argument has the wrong type, `cost` does not
        return a real scalar, or `v0` is not real.
    ValueError
        If `v0` is not a finite, non-empty 1-D array; if not exactly one of `eta` and
        `epsilon` is given or it is not > 0 and finite; if `steps` < 0, `tol` < 0 or
        `h` <= 0; if `grad` returns the wrong shape; or if ``cost(v0)`` is not finite.
    FloatingPointError
        If ``v``, the gradient or the cost stops being finite: the descent diverged (try a
        smaller `eta`). NumPy overflow warnings inside `cost` and `grad` are silenced during
        the run, so this error is what reports the divergence.

    Examples
    --------
    Fixed step length 0.5 toward the minimum of the valley, starting at distance 2:

    >>> path = gradient_descent(valley, [2.0, 0.0], grad=valley_gradient, epsilon=0.5, steps=4)
    >>> path.v[:, 0]
    array([2. , 1.5, 1. , 0.5, 0. ])
    """
    if not callable(cost):
        raise TypeError(f"cost must be callable, got {type(cost).__name__}")
    if grad is not None and not callable(grad):
        raise TypeError(f"grad must be callable or None, got {type(grad).__name__}")
    v = _check_v0(v0)
    if (eta is None) == (epsilon is None):
        raise ValueError(
            "give exactly one of eta (learning rate, Delta v = -eta grad C) or epsilon "
            f"(fixed step length, eta = epsilon / |grad C|); got eta={eta!r}, epsilon={epsilon!r}"
        )
    if eta is not None:
        eta = _check_positive("eta", eta)
    else:
        epsilon = _check_positive("epsilon", epsilon)
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"steps must be an integer, got {steps!r} ({type(steps).__name__})")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    steps = int(steps)
    tol = _check_positive("tol", tol, allow_zero=True)
    h = _check_positive("h", h)

    def gradient(v):
        if grad is None:
            return _central_difference(cost, v, h)
        g = np.asarray(grad(v.copy()))
        if g.shape != v.shape:
            raise ValueError(f"grad(v) must return shape {v.shape} like v, got {g.shape}")
        if not (np.issubdtype(g.dtype, np.floating) or np.issubdtype(g.dtype, np.integer)):
            raise TypeError(f"grad(v) must return real numbers, got dtype {g.dtype}")
        return g.astype(np.float64)

    c0 = _call_cost(cost, v)
    if not np.isfinite(c0):
        raise ValueError(f"cost(v0) must be finite, got {c0}")

    vs, costs, norms, etas, predicted = [v], [c0], [], [], []
    converged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps + 1):
            g = gradient(v)
            if not np.all(np.isfinite(g)):
                raise FloatingPointError(
                    f"gradient descent diverged: grad C is not finite after {k} steps "
                    f"({_rate(eta, epsilon)}); try a smaller step"
                )
            norm = _norm(g)
            norms.append(norm)
            if norm <= tol:
                converged = True
                break
            if k == steps:
                break
            eta_k = eta if eta is not None else epsilon / norm
            delta_v = -eta_k * g  # Eq. (10)
            v = v + delta_v  # Eq. (15)
            c = _call_cost(cost, v)
            if not (np.all(np.isfinite(v)) and np.isfinite(c)):
                raise FloatingPointError(
                    f"gradient descent diverged at step {k + 1}: v or C(v) is no longer "
                    f"finite ({_rate(eta, epsilon)}); try a smaller step"
                )
            vs.append(v)
            costs.append(c)
            etas.append(eta_k)
            predicted.append(float(g @ delta_v))  # Eq. (9): Delta C ~ grad C . Delta v
    return GradientDescentResult(
        v=np.array(vs),
        cost=np.array(costs),
        grad_norm=np.array(norms),
        eta=np.array(etas, dtype=np.float64),
        predicted_change=np.array(predicted, dtype=np.float64),
        converged=converged,
    )


def _norm(g):
    """Euclidean norm without underflow: ``np.linalg.norm`` squares entries, so a gradient
    of 1e-280 would read as exactly 0 and stop the descent as if at a minimum."""
    m = float(np.max(np.abs(g)))
    if m == 0.0 or not np.isfinite(m):
        return m
    return m * float(np.sqrt(np.sum((g / m) ** 2)))


def _rate(eta, epsilon):
    return f"eta={eta}" if eta is not None else f"epsilon={epsilon}"
