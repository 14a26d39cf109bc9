"""Chapter 4's training loop for a PyTorch classifier, as one helper for the chapters after it.

Chapter 4 writes the loop out (``train_one_epoch``, ``accuracy``, ``fit``) where it teaches it;
later chapters, whose subject is something else, call these instead of copying it.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from utils.validate import whole_number


def _check_pair(X: Any, y: Any, name: str) -> None:
    import torch

    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"{name}: X and y must be torch tensors, got {type(X).__name__} and {type(y).__name__}")
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"{name}: X and y must have the same, non-zero length, got {len(X)} and {len(y)}")
    if y.dtype != torch.long:
        raise TypeError(f"{name}: y must hold class indices (torch.long), got {y.dtype}")


def predict_logits(model: Any, X: Any, *, batch_size: int = 512, device: Any = None) -> Any:
    """The model's outputs for ``X`` in evaluation mode, batch by batch, on the CPU (chapter 9)."""
    import torch

    if not isinstance(X, torch.Tensor) or len(X) == 0:
        raise ValueError("X must be a non-empty torch tensor")
    device = next(model.parameters()).device if device is None else torch.device(device)
    model.eval()
    with torch.no_grad():
        return torch.cat([model(X[start:start + batch_size].to(device)).cpu() for start in range(0, len(X), batch_size)])


def fit_classifier(
    model: Any,
    X: Any,
    y: Any,
    *,
    num_epochs: int,
    lr: float,
    batch_size: int = 64,
    clip_norm: float | None = None,
    validation: tuple[Any, Any] | None = None,
    keep_best: bool = False,
    seed: int = 42,
    device: Any = None,
) -> dict:
    """Train with Adam and cross-entropy on shuffled mini-batches, as chapter 4's ``fit`` does (chapter 9).

    Returns ``{"loss": [...], "val_accuracy": [...], "best_epoch": ..., "seconds": ...}``. With
    ``validation=(X_val, y_val)`` the accuracy there is measured after every epoch, and with
    ``keep_best=True`` the model ends with the weights of its best validation epoch (early
    stopping chosen on validation, never on test). ``seed`` fixes the order of the batches.
    """
    import torch
    from torch import nn

    _check_pair(X, y, "training data")
    num_epochs, batch_size = whole_number("num_epochs", num_epochs), whole_number("batch_size", batch_size)
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if validation is not None:
        _check_pair(*validation, "validation data")
    elif keep_best:
        raise ValueError("keep_best=True needs validation=(X_val, y_val) to choose the best epoch")
    device = next(model.parameters()).device if device is None else torch.device(device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    history: dict = {"loss": [], "val_accuracy": [], "best_epoch": None}
    best_state, best_accuracy = None, -1.0
    start = time.perf_counter()
    for epoch in range(num_epochs):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(X), generator=generator).split(batch_size):
            X_batch, y_batch = X[batch].to(device), y[batch].to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(X_batch), y_batch)
            loss.backward()
            if clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            optimizer.step()
            total += loss.item() * len(batch)
        history["loss"].append(total / len(X))
        if validation is not None:
            X_val, y_val = validation
            val_accuracy = (predict_logits(model, X_val, device=device).argmax(dim=1) == y_val).float().mean().item()
            history["val_accuracy"].append(val_accuracy)
            if val_accuracy > best_accuracy:
                best_accuracy, history["best_epoch"] = val_accuracy, epoch + 1
                if keep_best:
                    best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    history["seconds"] = time.perf_counter() - start
    return history
