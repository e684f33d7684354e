"""Learning-rate schedules with one interface: ``step()`` after each optimiser step says whether to go on.

``StepSchedule`` is the usual one-cycle over a known number of steps. ``TimeSchedule`` follows wall
time instead: on a shared machine the throughput is not known in advance, and a step-based schedule
cut short by a time limit stops before its learning rate has come down (the worst moment to stop).
"""

from __future__ import annotations

import math
import time

import torch


class StepSchedule:
    def __init__(self, opt: torch.optim.Optimizer, max_lr: float, total_steps: int):
        self.inner = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=max(total_steps, 1))
        self.total = max(total_steps, 1)

    def step(self) -> bool:
        if self.inner.last_epoch + 1 < self.total:  # OneCycleLR raises on a step past its end
            self.inner.step()
        return True

    def done(self) -> bool:
        return False  # the epoch count ends the run

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


def warmup_cosine(fraction: float, warmup: float = 0.05) -> float:
    """Learning-rate factor: linear warm-up from 1/25, then a cosine down to 0 at fraction 1."""
    f = min(max(fraction, 0.0), 1.0)
    if f < warmup:
        return 0.04 + 0.96 * f / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (f - warmup) / (1.0 - warmup)))


class TimeSchedule:
    def __init__(self, opt: torch.optim.Optimizer, max_lr: float, minutes: float, clock=time.monotonic):
        self.opt, self.max_lr, self.seconds, self.clock = opt, max_lr, minutes * 60.0, clock
        self.before, self.t0 = 0.0, clock()
        self._apply()

    def fraction(self) -> float:
        return (self.before + self.clock() - self.t0) / self.seconds

    def _apply(self) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.max_lr * warmup_cosine(self.fraction())

    def step(self) -> bool:
        self._apply()
        return not self.done()

    def done(self) -> bool:
        return self.fraction() >= 1.0

    def state_dict(self) -> dict:
        return {"elapsed_seconds": self.before + self.clock() - self.t0}

    def load_state_dict(self, state: dict) -> None:
        # a resumed run continues the schedule where the interrupted one stopped
        self.before, self.t0 = state["elapsed_seconds"], self.clock()
        self._apply()
