"""Perceptrons, sigmoid neurons and networks of them: the start of Nielsen's Chapter 1.

A perceptron (Eq. 1-2) outputs 1 when its weighted input ``z = w . x + b`` is positive and 0
otherwise; a sigmoid neuron (Eq. 3-4) outputs ``sigma(z)``, a smoothed version of the same
step. :class:`PerceptronCircuit` wires neurons into a feed-forward network whose inputs are
plain sources, as in the book's two-bit adder built from NAND gates, and runs it with either
kind of neuron. The chapter's two exercises become methods:

* :meth:`PerceptronCircuit.scaled` multiplies every weight and bias by ``c > 0``; the
  perceptron network computes the same function (exercise 1).
* :meth:`PerceptronCircuit.run_sigmoid` with a large ``c`` and
  :meth:`PerceptronCircuit.sigmoid_limit` (``c -> infinity``) reproduce the perceptron network
  exactly when no neuron has ``w . x + b = 0``, and show 0.5 where one does (exercise 2).

Examples
--------
>>> from fastnn.book.perceptrons import nand_perceptron, two_bit_adder
>>> nand = nand_perceptron()
>>> [nand([x1, x2]) for x1, x2 in [(0, 0), (0, 1), (1, 0), (1, 1)]]
[1, 1, 1, 0]
>>> two_bit_adder()([1, 1])   # sum, carry of 1 + 1
array([0, 1])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from fastnn.reference import sigmoid
from fastnn.validation import check_real, check_real_array

__all__ = [
    "Perceptron",
    "SigmoidNeuron",
    "Unit",
    "PerceptronCircuit",
    "cheese_festival",
    "nand_perceptron",
    "two_bit_adder",
]


def _check_c(c):
    c = check_real(c, "c")
    if c <= 0:
        raise ValueError(
            f"c must be > 0, got {c} (c = 0 silences every neuron, c < 0 flips them)"
        )
    return c


class _Neuron:
    """Weights and a bias; the shared part of perceptrons and sigmoid neurons."""

    def __init__(self, weights, bias=None, *, threshold=None):
        w = check_real_array(weights, "weights")
        if w.ndim != 1:
            raise ValueError(f"weights must be 1-D (one per input), got shape {w.shape}")
        if w.size == 0:
            raise ValueError(
                "weights must have at least one entry; an input unit is a plain source "
                "(a PerceptronCircuit input), not a neuron without inputs"
            )
        if (bias is None) == (threshold is None):
            raise TypeError("give exactly one of bias or threshold (bias = -threshold)")
        if bias is None:
            bias = -check_real(threshold, "threshold")
        w.flags.writeable = False
        self._weights = w
        self._bias = check_real(bias, "bias")

    @property
    def weights(self):
        """ndarray of shape (n_inputs,), float64, read-only: the weights ``w_j``."""
        return self._weights

    @property
    def bias(self):
        """float: the bias ``b`` (Eq. 2)."""
        return self._bias

    @property
    def threshold(self):
        """float: the threshold of Eq. (1), ``-bias``."""
        return -self._bias

    @property
    def n_inputs(self):
        """int: number of inputs."""
        return self._weights.size

    def weighted_input(self, x):
        """The weighted input ``z = w . x + b`` (Eq. 2).

        Parameters
        ----------
        x : array_like of shape (n_inputs,) or (n_samples, n_inputs)
            Inputs; real and finite.

        Returns
        -------
        float or ndarray of shape (n_samples,)

        Raises
        ------
        ValueError
            If `x` has the wrong shape or is not finite.
        TypeError
            If `x` is not real.
        """
        x = check_real_array(x, "x")
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_inputs:
            raise ValueError(
                f"x must have shape ({self.n_inputs},) or (n_samples, {self.n_inputs}), "
                f"got {x.shape}"
            )
        z = x @ self._weights + self._bias
        return float(z) if x.ndim == 1 else z

    def __repr__(self):
        return f"{type(self).__name__}(weights={self._weights.tolist()}, bias={self._bias!r})"

    def __eq__(self, other):
        return (
            type(other) is type(self)
            and np.array_equal(self._weights, other._weights)
            and self._bias == other._bias
        )

    __hash__ = None


class Perceptron(_Neuron):
    """A perceptron: binary output 1 if ``w . x + b > 0``, else 0 (Eq. 1-2).

    Parameters
    ----------
    weights : array_like of shape (n_inputs,)
        Real, finite weights ``w_j``; at least one.
    bias : float, optional
        The bias ``b``. Give exactly one of `bias` and `threshold`.
    threshold : float, optional, keyword-only
        The threshold of Eq. (1); stored as ``bias = -threshold``, so
        ``sum_j w_j x_j > threshold`` is the same test as ``w . x + b > 0``.

    Raises
    ------
    TypeError
        If both or neither of `bias` and `threshold` are given, or a value is not real.
    ValueError
        If `weights` is empty or not 1-D, or a value is not finite.

    Notes
    -----
    ``z`` is computed in float64, exactly for integer weights, biases and inputs. Where
    ``z = 0`` the perceptron outputs 0 (Eq. 1: "0 if w . x <= threshold").

    Examples
    --------
    >>> p = Perceptron([6, 2, 2], threshold=5)     # the cheese festival
    >>> p([1, 0, 0]), p([0, 1, 1])
    (1, 0)
    >>> p.bias
    -5.0
    """

    def __call__(self, x):
        """Output 0 or 1 for each input (Eq. 1-2).

        Parameters
        ----------
        x : array_like of shape (n_inputs,) or (n_samples, n_inputs)

        Returns
        -------
        int or ndarray of int64, shape (n_samples,)
        """
        z = self.weighted_input(x)
        out = (np.asarray(z) > 0).astype(np.int64)
        return int(out) if out.ndim == 0 else out

    def scaled(self, c):
        """The same perceptron with weights and bias multiplied by ``c > 0`` (exercise 1).

        Raises
        ------
        ValueError
            If `c` is not positive and finite.
        """
        c = _check_c(c)
        return Perceptron(c * self._weights, c * self._bias)

    def as_sigmoid(self, c=1.0):
        """A sigmoid neuron with weights ``c w`` and bias ``c b`` (exercise 2).

        Raises
        ------
        ValueError
            If `c` is not positive and finite.
        """
        c = _check_c(c)
        return SigmoidNeuron(c * self._weights, c * self._bias)


class SigmoidNeuron(_Neuron):
    """A sigmoid neuron: output ``sigma(w . x + b)`` (Eq. 3-4).

    Parameters
    ----------
    weights : array_like of shape (n_inputs,)
        Real, finite weights.
    bias : float, optional
        The bias ``b``. Give exactly one of `bias` and `threshold`.
    threshold : float, optional, keyword-only
        Stored as ``bias = -threshold``.

    Raises
    ------
    TypeError, ValueError
        As for :class:`Perceptron`.

    Examples
    --------
    >>> SigmoidNeuron([-2, -2], bias=3)([1, 1])     # sigma(-1)
    0.2689414213699951
    """

    def __call__(self, x):
        """Output ``sigma(w . x + b)`` in [0, 1] (Eq. 3-4).

        Parameters
        ----------
        x : array_like of shape (n_inputs,) or (n_samples, n_inputs)

        Returns
        -------
        float or ndarray of float64, shape (n_samples,)
        """
        out = sigmoid(self.weighted_input(x))
        return float(out) if np.ndim(out) == 0 else out

    def output_change(self, x, delta_w, delta_b):
        """First-order change of the output for small changes of weights and bias (Eq. 5).

        ``Delta output ~ sum_j (d output / d w_j) Delta w_j + (d output / d b) Delta b``
        with ``d output / d w_j = sigma'(z) x_j`` and ``d output / d b = sigma'(z)``.

        Parameters
        ----------
        x : array_like of shape (n_inputs,)
            One input.
        delta_w : array_like of shape (n_inputs,)
            Changes of the weights.
        delta_b : float
            Change of the bias.

        Returns
        -------
        float
            The linear estimate; the true change differs by O(|Delta|^2).
        """
        x = check_real_array(x, "x")
        if x.shape != (self.n_inputs,):
            raise ValueError(f"x must have shape ({self.n_inputs},), got {x.shape}")
        delta_w = check_real_array(delta_w, "delta_w")
        if delta_w.shape != (self.n_inputs,):
            raise ValueError(f"delta_w must have shape ({self.n_inputs},), got {delta_w.shape}")
        delta_b = check_real(delta_b, "delta_b")
        s = sigmoid(self.weighted_input(x))
        sigma_prime = s * (1.0 - s)
        return float(sigma_prime * (x @ delta_w) + sigma_prime * delta_b)


@dataclass(frozen=True)
class Unit:
    """One neuron of a :class:`PerceptronCircuit`.

    Parameters
    ----------
    name : str
        Unique name; later units and the circuit's outputs refer to it.
    connections : sequence of (str, float)
        ``(source, weight)`` pairs; a source is a circuit input or an earlier unit. The
        same source may appear twice: two separate connections, as in the book's adder.
    bias : float
        The unit's bias ``b``.
    """

    name: str
    connections: tuple
    bias: float

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str, got {self.name!r}")
        conns = []
        for item in self.connections:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise TypeError(
                    f"connections of unit {self.name!r} must be (source, weight) pairs, "
                    f"got {item!r}"
                )
            source, weight = item
            if not isinstance(source, str):
                raise TypeError(f"source names must be str, got {source!r} in unit {self.name!r}")
            conns.append((source, check_real(weight, f"weight {source}->{self.name}")))
        if not conns:
            raise ValueError(
                f"unit {self.name!r} has no connections; inputs are plain sources, "
                "not units without inputs"
            )
        object.__setattr__(self, "connections", tuple(conns))
        object.__setattr__(self, "bias", check_real(self.bias, f"bias of {self.name}"))


class PerceptronCircuit:
    """A feed-forward network of neurons whose inputs are plain sources.

    Each unit computes ``z = sum(weight * value(source)) + bias`` over its connections and
    outputs ``step(z)`` (perceptron, Eq. 1-2) or ``sigmoid(z)`` (Eq. 3-4), depending on
    the method used to run the circuit. Input units are not perceptrons: they just emit
    the values given.

    Parameters
    ----------
    inputs : sequence of str
        Names of the input sources, in the order of the columns of ``x``.
    units : sequence of Unit
        The neurons, each after every unit it reads from (no loops).
    outputs : sequence of str
        Names of the units (or inputs) whose values form the output, in order.

    Raises
    ------
    ValueError
        If a name is repeated, a connection reads an unknown or later unit, or an output
        is unknown.
    TypeError
        If `units` holds something other than :class:`Unit`.

    Examples
    --------
    >>> xor = two_bit_adder()
    >>> xor.truth_table()[1][:, 0]      # the sum bit for inputs 00, 01, 10, 11
    array([0, 1, 1, 0])
    """

    def __init__(self, inputs, units, outputs):
        self.inputs = tuple(inputs)
        self.units = tuple(units)
        self.outputs = tuple(outputs)
        seen = set()
        for name in self.inputs:
            if not isinstance(name, str):
                raise TypeError(f"input names must be str, got {name!r}")
            if name in seen:
                raise ValueError(f"name {name!r} is used twice")
            seen.add(name)
        if not self.inputs:
            raise ValueError("a circuit needs at least one input")
        for unit in self.units:
            if not isinstance(unit, Unit):
                raise TypeError(f"units must be Unit instances, got {type(unit).__name__}")
            for source, _ in unit.connections:
                if source not in seen:
                    raise ValueError(
                        f"unit {unit.name!r} reads {source!r}, which is not an input or an "
                        "earlier unit (list units in feed-forward order)"
                    )
            if unit.name in seen:
                raise ValueError(f"name {unit.name!r} is used twice")
            seen.add(unit.name)
        if not self.outputs:
            raise ValueError("a circuit needs at least one output")
        for name in self.outputs:
            if name not in seen:
                raise ValueError(f"output {name!r} is not an input or a unit")

    @property
    def n_inputs(self):
        """int: number of input sources."""
        return len(self.inputs)

    def __repr__(self):
        return (
            f"PerceptronCircuit(inputs={self.inputs}, units=<{len(self.units)} units>, "
            f"outputs={self.outputs})"
        )

    def _check_x(self, x):
        x = check_real_array(x, "x")
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_inputs:
            raise ValueError(
                f"x must have shape ({self.n_inputs},) or (n_samples, {self.n_inputs}), "
                f"got {x.shape}"
            )
        return x

    def _run(self, x, activation):
        """Values and weighted inputs of every node; ``activation(z)`` maps z to outputs."""
        x = self._check_x(x)
        x2 = np.atleast_2d(x)
        values = {name: x2[:, i] for i, name in enumerate(self.inputs)}
        zs = {}
        for unit in self.units:
            z = np.full(x2.shape[0], unit.bias)
            for source, weight in unit.connections:
                z = z + weight * values[source]
            zs[unit.name] = z
            values[unit.name] = activation(z)
        return x.ndim == 1, values, zs

    def _pack(self, single, values, dtype):
        out = np.stack([values[name] for name in self.outputs], axis=-1).astype(dtype)
        return out[0] if single else out

    def __call__(self, x):
        """Run the circuit with perceptrons (Eq. 1-2): outputs 0 or 1.

        Parameters
        ----------
        x : array_like of shape (n_inputs,) or (n_samples, n_inputs)

        Returns
        -------
        ndarray of int64, shape (n_outputs,) or (n_samples, n_outputs)
        """
        single, values, _ = self._run(x, lambda z: (z > 0).astype(np.float64))
        return self._pack(single, values, np.int64)

    def weighted_inputs(self, x):
        """Weighted input ``z = w . a + b`` of every unit when run with perceptrons.

        Parameters
        ----------
        x : array_like of shape (n_inputs,) or (n_samples, n_inputs)

        Returns
        -------
        dict of str to float or ndarray of shape (n_samples,)
            One entry per unit, in order.
        """
        single, _, zs = self._run(x, lambda z: (z > 0).astype(np.float64))
        return {name: float(z[0]) if single else z for name, z in zs.items()}

    def run_sigmoid(self, x, c=1.0):
        """Run the circuit with sigmoid neurons of weights ``c w`` and biases ``c b``.

        Parameters
        ----------
        x : array_like of shape (n_inputs,) or (n_samples, n_inputs)
        c : float, default 1.0
            Positive scale. As ``c`` grows each unit's output tends to 1 where its ``z > 0``
            and to 0 where ``z < 0``; at float64 it equals them exactly once
            ``c |z| > 745`` (``sigmoid`` is exactly 0 or 1 there). Where ``z = 0`` the
            output is 0.5 for every ``c``.

        Returns
        -------
        ndarray of float64, shape (n_outputs,) or (n_samples, n_outputs)

        Raises
        ------
        ValueError
            If `c` is not positive and finite, or `x` has the wrong shape.
        """
        c = _check_c(c)
        single, values, _ = self._run(x, lambda z: sigmoid(c * z))
        return self._pack(single, values, np.float64)

    def sigmoid_limit(self, x):
        """The outputs of :meth:`run_sigmoid` in the limit ``c -> infinity`` (exercise 2).

        Each unit outputs 1 where ``z > 0``, 0 where ``z < 0`` and 0.5 where ``z = 0`` (the
        value of ``sigmoid(c * 0)`` for every ``c``), with ``z`` computed from the limiting
        outputs of the units before it. Where no unit has ``z = 0`` this equals the
        perceptron circuit; where one has, that unit shows 0.5 and the circuits can differ.

        Parameters
        ----------
        x : array_like of shape (n_inputs,) or (n_samples, n_inputs)

        Returns
        -------
        ndarray of float64, shape (n_outputs,) or (n_samples, n_outputs)
        """
        single, values, _ = self._run(x, lambda z: np.heaviside(z, 0.5))
        return self._pack(single, values, np.float64)

    def scaled(self, c):
        """The circuit with every weight and bias multiplied by ``c > 0`` (exercise 1).

        Since ``step(c z) = step(z)`` for ``c > 0`` the perceptron circuit computes the same
        function. In float64 this holds exactly when the scaled products are exact (e.g.
        integer weights and integer or power-of-two ``c``); otherwise a ``z`` within rounding
        of 0 may change sign.

        Parameters
        ----------
        c : float
            Positive, finite scale.

        Returns
        -------
        PerceptronCircuit

        Raises
        ------
        ValueError
            If `c` is not positive and finite.
        """
        c = _check_c(c)
        units = [
            Unit(u.name, tuple((s, c * w) for s, w in u.connections), c * u.bias)
            for u in self.units
        ]
        return PerceptronCircuit(self.inputs, units, self.outputs)

    def truth_table(self):
        """All binary inputs, in counting order, and the perceptron circuit's outputs.

        Returns
        -------
        x : ndarray of int64, shape (2**n_inputs, n_inputs)
            ``[0, ..., 0], [0, ..., 1], ...``: the first input is the most significant.
        y : ndarray of int64, shape (2**n_inputs, n_outputs)
        """
        x = np.array(list(itertools.product((0, 1), repeat=self.n_inputs)), dtype=np.int64)
        return x, self(x)


def cheese_festival(threshold=5.0):
    """The book's cheese-festival perceptron: weights 6, 2, 2 and the given threshold.

    Inputs are ``x1`` = the weather is good, ``x2`` = your partner wants to come, ``x3`` = the
    festival is near public transit (1 yes, 0 no). With threshold 5 you go exactly when the
    weather is good; with threshold 3 you also go when the other two both hold (Eq. 1).

    Parameters
    ----------
    threshold : float, default 5.0

    Returns
    -------
    Perceptron

    Examples
    --------
    >>> cheese_festival(3)([0, 1, 1])
    1
    """
    return Perceptron([6.0, 2.0, 2.0], threshold=threshold)


def nand_perceptron():
    """The book's NAND perceptron: weights -2, -2 and bias 3 (Eq. 2).

    ``z = -2 x1 - 2 x2 + 3`` is 3, 1, 1, -1 for inputs 00, 01, 10, 11: outputs 1, 1, 1, 0.

    Returns
    -------
    Perceptron
    """
    return Perceptron([-2.0, -2.0], bias=3.0)


def two_bit_adder(merged=False):
    """The book's adder of two bits built from five NAND perceptrons.

    Units ``g1 = NAND(x1, x2)``, ``g2 = NAND(x1, g1)``, ``g3 = NAND(g1, x2)``,
    ``sum = NAND(g2, g3) = x1 XOR x2`` and ``carry = NAND(g1, g1) = x1 AND x2``. The carry
    unit reads ``g1`` through two connections of weight -2, or, with ``merged=True``, one
    connection of weight -4; both give the same circuit. ``x1`` and ``x2`` are plain input
    sources.

    Parameters
    ----------
    merged : bool, default False
        Merge the carry unit's two -2 connections into one -4 connection.

    Returns
    -------
    PerceptronCircuit
        Inputs ``("x1", "x2")``, outputs ``("sum", "carry")``.
    """

    def nand(name, a, b):
        return Unit(name, ((a, -2.0), (b, -2.0)), 3.0)

    carry = (
        Unit("carry", (("g1", -4.0),), 3.0)
        if merged
        else Unit("carry", (("g1", -2.0), ("g1", -2.0)), 3.0)
    )
    units = [
        nand("g1", "x1", "x2"),
        nand("g2", "x1", "g1"),
        nand("g3", "g1", "x2"),
        nand("sum", "g2", "g3"),
        carry,
    ]
    return PerceptronCircuit(("x1", "x2"), units, ("sum", "carry"))
