"""Tests for utils.rl: chapter 8's validation and early-stopping rule."""

import numpy as np
import pytest
import torch
from torch import nn

from utils.rl import Validator, sb3_validation_callback


def fixed_scores(scores):
    """A fake `play` that returns the next score of the list, over episodes of 10 steps each."""
    remaining = list(scores)

    def play(act, num_episodes, seed):
        return np.full(num_episodes, remaining.pop(0)), 10 * num_episodes

    return play


def test_validator_validates_when_due_counts_steps_and_stops_when_solved():
    model = nn.Linear(2, 1)
    validator = Validator(fixed_scores([10, 300, 480]), model, every=100, budget=1_000, solved=475, seed=0, num_episodes=5)
    assert not validator.step(50, act=None)  # not due yet: nothing played
    assert validator.validation_steps == 0
    assert not validator.step(120, act=None)
    assert not validator.step(150, act=None)  # the next one is due at 200
    assert not validator.step(200, act=None)
    assert validator.step(310, act=None)  # 480 >= 475: solved
    assert [score for _, _, score in validator.curve] == [10, 300, 480]
    assert validator.validation_steps == 150
    assert validator.total_steps() == 310 + 150
    assert validator.curve[0] == (120, 170, 10.0)


def test_validator_stops_at_the_budget_and_restores_the_best_weights():
    model = nn.Linear(2, 1)
    validator = Validator(fixed_scores([5, 50, 20]), model, every=100, budget=300, solved=475, seed=0)
    weights = []
    for steps in (100, 200, 300):
        with torch.no_grad():
            model.weight.fill_(steps)
        weights.append(steps)
        stop = validator.step(steps, act=None)
    assert stop  # out of budget, even though never solved
    assert validator.best_score == 50
    validator.restore_best()
    assert torch.all(model.weight == 200)


def test_validator_passes_a_new_seed_to_every_validation():
    seeds = []

    def play(act, num_episodes, seed):
        seeds.append(seed)
        return np.zeros(num_episodes), num_episodes

    validator = Validator(play, nn.Linear(1, 1), every=10, budget=100, solved=1, seed=7)
    validator.validate(10, act=None)
    validator.validate(20, act=None)
    assert seeds == [7, 17]  # 10 episodes each: seeds 7-16, then 17-26


def test_validator_rejects_bad_settings_with_clear_errors():
    with pytest.raises(ValueError, match="every"):
        Validator(fixed_scores([]), nn.Linear(1, 1), every=0, budget=10, solved=1, seed=0)
    with pytest.raises(ValueError, match="budget"):
        Validator(fixed_scores([]), nn.Linear(1, 1), every=5, budget=-1, solved=1, seed=0)
    with pytest.raises(TypeError, match="state_dict"):
        Validator(fixed_scores([]), object(), every=5, budget=10, solved=1, seed=0)
    validator = Validator(fixed_scores([]), nn.Linear(1, 1), every=5, budget=10, solved=1, seed=0)
    with pytest.raises(RuntimeError, match="no validation"):
        validator.restore_best()
    with pytest.raises(RuntimeError, match="no validation"):
        validator.total_steps()


def test_sb3_callback_stops_training_when_the_validator_says_so():
    gym = pytest.importorskip("gymnasium")
    sb3 = pytest.importorskip("stable_baselines3")
    model = sb3.PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    validator = Validator(fixed_scores([500]), model.policy, every=100, budget=10_000, solved=475, seed=0)
    model.learn(10_000, callback=sb3_validation_callback(validator, act=None))
    assert len(validator.curve) == 1
    assert 100 <= model.num_timesteps < 200
