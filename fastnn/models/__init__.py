"""Networks bundled with fastnn (package data): ``default.npz``, see :func:`fastnn.images.default_model`."""
