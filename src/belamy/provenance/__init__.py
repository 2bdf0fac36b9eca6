"""Provenance: one record of where a picture came from, in the picture, signed, checked and put into words.

One module a job: ``record`` (the ``Record`` every stage writes and extends), ``embed`` (the record in
the PNG, JPEG and TIFF files belamy writes, and read back: the one image-writing path), ``c2pa``
(content credentials: signing and reading manifests), ``keys`` (this machine's signing identity),
``credit`` (``credit_line``: the record in words, for `belamy verify`, the gallery and the wall label)
and ``verify`` (``verify_image``). Every stage imports this folder, never the other way round: it
imports belamy.utils and belamy.errors, and asks belamy.models.registry whose design an architecture is.
"""

from belamy.provenance.credit import credit_line
from belamy.provenance.record import SCHEMA, VERSION, Record, derive, read_record
from belamy.provenance.verify import Verification, verify_image

__all__ = ["SCHEMA", "VERSION", "Record", "Verification", "credit_line", "derive", "read_record", "verify_image"]
