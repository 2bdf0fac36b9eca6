"""Attribution: could a run's generator have made a picture? Projection, calibrated against references."""

from belamy.attribute.attribute import Attribution, Calibration, attribute_images
from belamy.attribute.project import Projection, Projector

__all__ = ["Attribution", "Calibration", "Projection", "Projector", "attribute_images"]
