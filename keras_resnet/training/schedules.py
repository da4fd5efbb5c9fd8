"""The papers' learning-rate schedules, laid over a run of any length.

A schedule is stored in the paper's unit (iterations for He et al., epochs for the others) and builds a Keras
`LearningRateSchedule` for any number of epochs, keeping its shape: a 10-epoch run decays where a 182-epoch run
would, proportionally. `StepSchedule` multiplies the rate by `decay` at each milestone (`PiecewiseConstantDecay`);
`CosineSchedule` decays it to 0 (Loshchilov & Hutter 2017, arXiv:1608.03983) after a linear warm-up
(`CosineDecay(warmup_target=...)`).

The warm-up does not scale down: a fresh network's instability at the papers' lr 0.1 is counted in steps, not in
fractions of the run (He et al. 2015 warm ResNet-110 up at 0.01 for 400 iterations). So a run shorter than the
paper's warms up linearly from `warmup_learning_rate` (Goyal et al. 2017's gradual warm-up, arXiv:1706.02677)
over the paper's warm-up scaled to the run, but over at least `short_run_warmup` epochs and at most a quarter of
the run; at the paper's length the schedule is exactly the paper's. A step schedule's ramp is a staircase of
`PiecewiseConstantDecay`, so that a saved model's optimizer is Keras' own and loads without this package.
"""

import dataclasses

import keras

WARMUP_LEVELS = 20  # steps of the staircase that approximates a linear warm-up


@dataclasses.dataclass(frozen=True, kw_only=True)
class Schedule:
    """What every schedule has: its peak learning rate, the paper's length and its warm-up.

    Attributes:
        learning_rate: the peak learning rate, reached after the warm-up.
        epochs: the paper's run, in epochs.
        length: the paper's run in the unit of `warmup` and of milestones (iterations for He et al.); default
            `epochs`.
        warmup: the paper's warm-up, in that unit; 0 for none.
        warmup_learning_rate: the learning rate the warm-up starts from.
        short_run_warmup: the shortest warm-up, in epochs, of a run shorter than the paper's.
    """

    learning_rate: float
    epochs: int
    length: int | None = None
    warmup: float = 0
    warmup_learning_rate: float = 0.01
    short_run_warmup: float = 1.0

    def scaled(self, factor):
        """The same schedule with its learning rates (`learning_rate`, `warmup_learning_rate`) times `factor`."""
        return dataclasses.replace(self, learning_rate=self.learning_rate * factor,
                                   warmup_learning_rate=self.warmup_learning_rate * factor)

    def _steps(self, steps_per_epoch, epochs=None):
        """The run's optimizer steps: `epochs` (default the paper's) of `steps_per_epoch`."""
        return steps_per_epoch * (epochs or self.epochs)

    def _scale(self, position, steps):
        """A point of the paper's run, in its unit, as a step of a run of `steps` steps."""
        return round(position * steps / (self.length or self.epochs))

    def warmup_steps(self, steps_per_epoch, epochs=None):
        """How many steps the warm-up lasts in a run of `epochs` epochs (default the paper's): the paper's
        warm-up scaled with the run and, in a shorter run, at least `short_run_warmup` epochs and at most a
        quarter of the run."""
        steps = self._steps(steps_per_epoch, epochs)
        paper = self._scale(self.warmup, steps)
        if (epochs or self.epochs) >= self.epochs:
            return paper
        return max(paper, min(round(self.short_run_warmup * steps_per_epoch), steps // 4))

    def build(self, steps_per_epoch, epochs=None):
        """The Keras `LearningRateSchedule` of `epochs` epochs (default the paper's) of `steps_per_epoch` steps."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepSchedule(Schedule):
    """`learning_rate`, multiplied by `decay` at each of `milestones` (in the paper's unit), after the warm-up
    (constant at `warmup_learning_rate` at the paper's length, a linear staircase of up to `WARMUP_LEVELS` steps
    in a shorter run). A milestone never falls inside the warm-up."""

    milestones: tuple = ()
    decay: float = 0.1

    def build(self, steps_per_epoch, epochs=None):
        steps = self._steps(steps_per_epoch, epochs)
        warmup = self.warmup_steps(steps_per_epoch, epochs)
        # At the paper's length its constant warm-up (one level, if it has one), in a shorter run a staircase.
        levels = min(warmup, 1 if (epochs or self.epochs) >= self.epochs else WARMUP_LEVELS)
        # Level i of the warm-up runs until step warmup * (i + 1) / levels.
        start, rise = self.warmup_learning_rate, self.learning_rate - self.warmup_learning_rate
        ramp = [start + rise * i / levels for i in range(levels)] if levels > 1 else [start] * levels
        points = [round(warmup * (i + 1) / levels) for i in range(levels)]
        milestones = [max(self._scale(m, steps), 1) for m in self.milestones]
        values = ramp + [self.learning_rate * self.decay**i for i in range(len(milestones) + 1)]
        # PiecewiseConstantDecay switches *after* a boundary step, counting from 0.
        boundaries, last = [], 0
        for point in points + milestones:
            last = max(point, last + 1)
            boundaries.append(last - 1)
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CosineSchedule(Schedule):
    """A linear warm-up from `warmup_learning_rate` to `learning_rate` (at every length), then cosine decay to 0."""

    def build(self, steps_per_epoch, epochs=None):
        steps = self._steps(steps_per_epoch, epochs)
        warmup = min(self.warmup_steps(steps_per_epoch, epochs), steps - 1)
        return keras.optimizers.schedules.CosineDecay(
            self.warmup_learning_rate if warmup else self.learning_rate, steps - warmup,
            warmup_target=self.learning_rate if warmup else None, warmup_steps=warmup)
