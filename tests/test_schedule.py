"""jgan.schedule: the stage of each iteration, where each stage reads in the image stream, and how long each
compiled call is."""
from jgan.config import base_config
from jgan.schedule import Schedule, Stage

# ProGAN-like: 4 iterations at batch 16, then 3 at batch 8, then the rest at batch 8 at a higher resolution.
_STAGES = (Stage(0, 16, 4), Stage(4, 8, 8), Stage(7, 8, 16))


def test_each_iteration_belongs_to_the_last_stage_started():
  schedule = Schedule(_STAGES, steps=10, sub_batches=2)
  assert [schedule.stage_at(step) for step in range(10)] == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
  assert [schedule.stage_end(index) for index in range(3)] == [4, 7, 10]
  assert Schedule(_STAGES, steps=5, sub_batches=2).stage_end(1) == 5  # the run ends inside the stage


def test_a_stage_reads_on_where_the_one_before_stopped():
  # Each iteration reads sub_batches * batch_size images: 4 * 2 * 16 = 128, then 3 * 2 * 8 = 48 more.
  schedule = Schedule(_STAGES, steps=10, sub_batches=2)
  assert [schedule.first_image(index) for index in range(3)] == [0, 128, 176]


def test_calls_run_steps_per_call_iterations_unless_something_falls_inside():
  # Intervals 5 (logs) and 8 (checkpoints): a call of 3 from step s covers the done counts s + 1 .. s + 3, and
  # runs 1 iteration where s + 1 or s + 2 is a multiple of either, or the stage ends before s + 3.
  schedule = Schedule((Stage(0, 8, 32),), steps=20, sub_batches=1, steps_per_call=3, intervals=(5, 8))
  assert [schedule.call_length(step) for step in range(0, 18)] == [
      3, 3, 3, 1, 1, 3, 1, 1, 1, 1, 3, 3, 3, 1, 1, 1, 3, 3]
  assert schedule.call_length(18) == 1  # 18 + 3 > 20
  assert Schedule((Stage(0, 8, 32),), steps=20, sub_batches=1).call_length(0) == 1


def test_a_config_without_stages_trains_in_one_at_its_batch_and_size():
  config = base_config('dcgan')
  config.train.update(steps=30, batch_size=16, steps_per_call=4, log_every=10, sample_every=20, checkpoint_every=30)
  config.data.resolution = 64
  schedule = Schedule.of(config, (), sub_batches=5)
  assert schedule == Schedule((Stage(0, 16, 64),), 30, 5, 4, (10, 20, 30))
