"""Image-quality metrics that need no downloaded weights (SWD, memorisation), and FID/KID when a
local Inception-v3 file is given."""
