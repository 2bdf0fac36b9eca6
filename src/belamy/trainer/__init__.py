"""Run services every kind of training shares: the run folder, checkpoints, stats, stop requests, the loop."""
