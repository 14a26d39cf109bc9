"""The digits images and the Keras digits CNN that chapters 3 and 4 both train.

Chapter 3 defines and teaches the network in Keras; chapter 4 rebuilds it in PyTorch and trains
the Keras one again next to it, taking it from here. A test checks that chapter 3's definition
and this one stay identical, and both chapters take the data split from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _require_seed(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not 0 <= value < 2**32:
        raise ValueError(f"{name} must be in [0, 2**32), got {value}")
    return value


def split_digits_images(
    random_state: int = 42, test_size: float = 0.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``X_train, X_test, y_train, y_test``: 8x8 digits in [0, 1], shape (n, 8, 8, 1) (chapter 3, used in chapter 4).

    The split is stratified; images are float32 and channels-last, as Keras expects.
    """
    _require_seed("random_state", random_state)
    if isinstance(test_size, bool) or not isinstance(test_size, float) or not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a float strictly between 0 and 1, got {test_size!r}")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.images / 16.0).astype("float32")[..., None]
    return tuple(  # type: ignore[return-value]
        train_test_split(X, digits.target, test_size=test_size, stratify=digits.target, random_state=random_state)
    )


def build_keras_digits_cnn(seed: int = 42) -> Any:
    """Return chapter 3's Keras digits CNN, 53,002 parameters, uncompiled (chapter 3, used in chapter 4).

    ``seed`` fixes the random shifts and the dropout masks.
    """
    _require_seed("seed", seed)
    from utils.device import import_tensorflow

    import_tensorflow()
    import keras

    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        # shift each training image by up to 12.5% of its size (one pixel) in each direction
        keras.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", seed=seed),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3, seed=seed),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ], name="digits_cnn")
