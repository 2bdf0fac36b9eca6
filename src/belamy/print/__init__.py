"""Signing, print files, frame mock-ups and wall labels: the last steps before a wall."""
