"""Where a run's iterations go: its stages (stretches of iterations with one data shape), the stream position
each stage starts reading at, and how many iterations each compiled call runs.

The loop and the input pipeline share this one account, so a resumed run reads exactly the images the
uninterrupted run would have read: the position in the (endless, shuffled) image stream is a function of the
step alone.
"""
from __future__ import annotations

import dataclasses

import ml_collections


@dataclasses.dataclass(frozen=True)
class Stage:
  """A stretch of iterations with one data shape: ProGAN's resolutions, each with its own batch size. The
  train step compiles once per stage; a game without stages trains in one, at the config's batch and size."""

  start: int  # the first iteration of the stage
  batch_size: int  # global
  resolution: int  # the side of the real images it reads
  description: str = ''  # printed when the stage begins


@dataclasses.dataclass(frozen=True)
class Schedule:
  """A run's stages over its `steps` iterations, each iteration reading `sub_batches` batches of images."""

  stages: tuple[Stage, ...]
  steps: int  # train.steps: the iteration the run ends before
  sub_batches: int
  steps_per_call: int = 1  # iterations per compiled call where nothing falls inside the call
  intervals: tuple[int, ...] = ()  # logging, samples, checkpoints (0: none): a call ends where one of them falls

  @classmethod
  def of(cls, config: ml_collections.ConfigDict, stages: tuple[Stage, ...], sub_batches: int) -> Schedule:
    """The schedule of `config`'s run, with a game's `stages` (none: one stage at the config's batch and size)."""
    train = config.train
    return cls(stages or (Stage(0, train.batch_size, config.data.resolution),), train.steps, sub_batches,
               train.steps_per_call, (train.log_every, train.sample_every, train.checkpoint_every))

  def stage_at(self, step: int) -> int:
    """The index of the stage that iteration `step` belongs to."""
    return max(index for index, stage in enumerate(self.stages) if stage.start <= step)

  def stage_end(self, index: int) -> int:
    """The iteration that stage `index` ends before: the next stage's start, or the end of the run."""
    return min(self.steps, self.stages[index + 1].start) if index + 1 < len(self.stages) else self.steps

  def first_image(self, index: int) -> int:
    """The position in the image stream where stage `index` starts reading: the images of the stages before."""
    return sum((self.stages[i + 1].start - self.stages[i].start) * self.stages[i].batch_size * self.sub_batches
               for i in range(index))

  def call_length(self, step: int) -> int:
    """How many iterations the call starting at `step` runs: steps_per_call, or 1 where the stage's end or an
    interval (a log line, samples, a checkpoint) falls before the call's last iteration."""
    n = self.steps_per_call
    inside = range(step + 1, step + n)  # the done counts before the call's last iteration
    if n == 1 or step + n > self.stage_end(self.stage_at(step)) or any(
        every and done % every == 0 for done in inside for every in self.intervals):
      return 1
    return n
