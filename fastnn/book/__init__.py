"""The rest of Chapter 1, beside the fast library: the chapter's material in code.

- :mod:`fastnn.book.perceptrons`: perceptrons and sigmoid neurons, Eq. (1)-(5), the
  cheese festival, NAND and the two-bit adder;
- :mod:`fastnn.book.gradient_descent`: gradient descent on any C(v), Eq. (7)-(15);
- :mod:`fastnn.book.binary_output`: the exercise of a binary output layer;
- :mod:`fastnn.book.reproduce`: the chapter's experiments beside the book's numbers
  (``fastnn reproduce chapter1``);
- :mod:`fastnn.book.segmentation`: the chapter's opening task, reading a line of
  digits, measured on lines composed from MNIST's test set (``fastnn reproduce
  segmentation``; the reading itself is :mod:`fastnn.images`).

These modules import the library (:mod:`fastnn.network`, :mod:`fastnn.reference`, ...)
directly, never through ``fastnn/__init__``.
"""
