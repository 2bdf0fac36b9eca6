"""Interpolation videos: walks between chosen seeds, or seamless loops, as MP4 or GIF."""

from belamy.walk.video import walk_frames, write_walk

__all__ = ["walk_frames", "write_walk"]
