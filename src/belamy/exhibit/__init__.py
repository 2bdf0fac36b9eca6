"""The live installation: portraits morphing forever along never-repeating walks through latent space."""

from belamy.generate.latent_paths import LatentWalk, circle_point, slerp, smoothstep

__all__ = ["LatentWalk", "circle_point", "slerp", "smoothstep"]
