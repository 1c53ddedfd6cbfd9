"""Training: the loop, its config, inputs, schedules, loss, validation and run log."""
