"""Portrait aspect ratios shared by the corpus and the models.

An aspect replaces the 4×4 start grid of a generator with (rows, cols); the picture at "resolution"
``res`` is that grid times ``res / 4``. So a 4:5 picture at 128 is 128 wide and 160 tall, a 3:4 one
is 96 wide and 128 tall: about as many pixels as the square one, and the same number of doublings.
A corpus built with ``--size S --aspect A`` holds exactly the pictures a model at ``--res S --aspect A``
makes, so training reads it without resampling.
"""

from __future__ import annotations

import math

from belamy.errors import BelamyError

# width:height → the start grid (rows, cols) that replaces 4×4
ASPECTS: dict[str, tuple[int, int]] = {"1:1": (4, 4), "4:5": (5, 4), "3:4": (4, 3)}


def check_aspect(aspect: str) -> str:
    if aspect not in ASPECTS:
        raise BelamyError(f"--aspect {aspect} is not supported", f"use one of {', '.join(ASPECTS)} (width:height)")
    return aspect


def shape_for(size: int, aspect: str = "1:1") -> tuple[int, int]:
    """(height, width) of a picture at ``size`` in ``aspect``; ``size`` must be a multiple of 4 unless square."""
    rows, cols = ASPECTS[check_aspect(aspect)]
    if aspect != "1:1" and size % 4:
        raise BelamyError(f"--size {size} does not divide into a {aspect} picture", "use a multiple of 4, e.g. 128")
    return size * rows // 4, size * cols // 4


class AspectShaped:
    """What a model config with ``res`` and ``aspect`` fields derives from them (a mixin for its dataclass)."""

    res: int
    aspect: str

    @property
    def start(self) -> tuple[int, int]:
        """The start grid (rows, cols) that replaces 4×4."""
        return ASPECTS[self.aspect]

    @property
    def shape(self) -> tuple[int, int]:
        """Output (height, width)."""
        return shape_for(self.res, self.aspect)

    @property
    def doublings(self) -> int:
        """Number of stride-2 layers between the start grid and the output resolution."""
        return int(math.log2(self.res)) - 2


def aspect_of(height: int, width: int) -> str | None:
    """The named aspect a (height, width) picture has exactly, or None."""
    for name, (rows, cols) in ASPECTS.items():
        if height * cols == width * rows:
            return name
    return None


def size_of(height: int, width: int) -> int:
    """The nominal size (the ``--res`` / ``--size``) of a picture in one of the named aspects."""
    aspect = aspect_of(height, width)
    if aspect is None:
        raise BelamyError(f"a {width}×{height} picture is in none of the aspects {', '.join(ASPECTS)}",
                          "rebuild the corpus with --aspect")
    rows, _ = ASPECTS[aspect]
    return height * 4 // rows
