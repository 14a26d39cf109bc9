"""Chapter 8's bookkeeping for fair agent comparisons: one validation and stopping rule for every agent.

Every CartPole agent of chapter 8, written out or from Stable-Baselines3, is trained under the same
rule: a budget of training steps; every ``every`` training steps a few greedy *validation* episodes
(seeds that the final test never uses); stop as soon as their mean reaches ``solved``; keep the
weights with the best validation score. The steps the validation episodes play are counted too, so
"environment steps" is all the experience an agent used. Torch and Stable-Baselines3 are imported
only inside the functions that need them.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np

__all__ = ["Validator", "sb3_validation_callback"]


class Validator:
    """Chapter 8: greedy validation every ``every`` training steps, early stopping at ``solved``, best weights kept."""

    def __init__(self, play: Callable[[Callable, int, int], tuple[np.ndarray, int]], model: Any, *, every: int,
                 budget: int, solved: float, seed: int, num_episodes: int = 10) -> None:
        """``play(act, num_episodes, seed)`` returns the episodes' returns and the steps played; ``model`` has a state_dict."""
        for name, value in [("every", every), ("budget", budget), ("num_episodes", num_episodes)]:
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive whole number of steps or episodes, got {value!r}")
        if not hasattr(model, "state_dict") or not hasattr(model, "load_state_dict"):
            raise TypeError(f"model must have state_dict() and load_state_dict() (a torch module), got {type(model).__name__}")
        self.play, self.model, self.every, self.budget, self.solved = play, model, int(every), int(budget), solved
        self.seed, self.num_episodes = seed, int(num_episodes)
        self.curve: list[tuple[int, int, float]] = []  # (training steps, all steps so far, validation score)
        self.validation_steps, self.best_score, self.best_weights = 0, -np.inf, None

    def validate(self, train_steps: int, act: Callable) -> bool:
        """Play the validation episodes now, keep the weights if they are the best so far; True when solved."""
        returns, steps = self.play(act, self.num_episodes, self.seed + self.num_episodes * len(self.curve))  # fresh seeds each time
        score = float(np.mean(returns))
        self.validation_steps += int(steps)
        self.curve.append((int(train_steps), int(train_steps) + self.validation_steps, score))
        if score > self.best_score:
            self.best_score, self.best_weights = score, copy.deepcopy(self.model.state_dict())
        return score >= self.solved

    def step(self, train_steps: int, act: Callable) -> bool:
        """Call after every update: validates when due (and at the end of the budget); True when training must stop."""
        out_of_budget = train_steps >= self.budget
        if out_of_budget or train_steps >= self.every * (len(self.curve) + 1):
            return self.validate(train_steps, act) or out_of_budget
        return False

    def restore_best(self) -> None:
        """Load the best validated weights back into the model."""
        if self.best_weights is None:
            raise RuntimeError("no validation has run yet, so there are no best weights to restore")
        self.model.load_state_dict(self.best_weights)

    def total_steps(self) -> int:
        """Training plus validation steps, at the last validation."""
        if not self.curve:
            raise RuntimeError("no validation has run yet")
        return self.curve[-1][1]


def sb3_validation_callback(validator: Validator, act: Callable):
    """Chapter 8: a Stable-Baselines3 callback that applies ``validator`` after every environment step."""
    from stable_baselines3.common.callbacks import BaseCallback

    class ValidationCallback(BaseCallback):
        def _on_step(self) -> bool:
            return not validator.step(self.num_timesteps, act)  # False stops the training

    return ValidationCallback()
