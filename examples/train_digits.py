"""Train the book's 784-30-10 digit network through fastnn's Python API.

Run: python examples/train_digits.py [MNIST_DIR] [EPOCHS]

The book's run: 30 epochs, mini-batch 10, eta = 3.0, about 95 % of the 10,000 test images.
Afterwards the chapter's binary-output exercise reads the same network out in binary.
"""

import sys

import numpy as np

from fastnn import Network
from fastnn.book.binary_output import binary_readout, bits_to_digits, with_binary_output
from fastnn.datasets import load_mnist

data_dir = sys.argv[1] if len(sys.argv) > 1 else None
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 30

# 50,000 training, 10,000 validation and 10,000 test images as fastnn.Datasets: checked
# once and kept as bytes; each unpacks as X, y (X in [0, 1], y int labels).
training_data, validation_data, test_data = load_mnist(data_dir)

net = Network([784, 30, 10], seed=0)
history = net.SGD(training_data, epochs, 10, 3.0, test_data=test_data)  # prints each epoch
best = max(history, key=lambda r: r.test_correct)
print(f"peak {best.test_correct} / {best.n_test} after epoch {best.epoch} (book: 9542)")

# Classify a few test images: the output neuron with the largest activation wins.
X_test, y_test = test_data
outputs = net.feedforward(X_test[:10])
print("labels:   ", y_test[:10].tolist())
print("predicted:", outputs.argmax(axis=1).tolist())

# The binary output layer: four sigmoid neurons spelling the digit in binary.
bits = binary_readout(net, X_test)
agree = np.mean(bits_to_digits(bits) == net.feedforward(X_test).argmax(axis=1))
print(f"binary readout of the first image: {(bits[0] > 0.5).astype(int).tolist()}"
      f" = {bits_to_digits(bits[0])}; agrees with argmax on {100 * agree:.2f} % of test images")
net4 = with_binary_output(net)  # the same thing as one 784-30-10-4 Network
print(net4, "->", (net4.feedforward(X_test[0]) > 0.5).astype(int).tolist())
