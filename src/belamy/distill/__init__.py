"""`belamy distill`: a light DCGAN student that draws what a trained (heavier) generator draws.

The student learns the teacher's mapping z (+ label) → image by regression on pairs made on the fly,
so the live installation can run at full frame rate on a CPU. Its run folder is an ordinary run.
"""

from belamy.distill.options import DistillOptions
from belamy.distill.task import DistillResult, distill

__all__ = ["DistillOptions", "DistillResult", "distill"]
