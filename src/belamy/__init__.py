"""belamy: a GAN art studio.

corpus -> train -> explore -> curate -> upscale -> sign and print -> exhibit live,
with every artwork able to say where it came from.
"""

__version__ = "0.1.0"
