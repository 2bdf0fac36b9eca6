"""Provenance: one record of where a picture came from, content credentials over it, and checks.

The record (``Record``: model, corpus, code, generation, steps) is written by every stage; C2PA
signing happens in the one image-writing path (belamy.utils.imageio); ``verify_image`` checks a file;
``credit_line`` turns a record into words. This folder sits below every stage: it imports only
belamy.utils and belamy.errors.
"""

from belamy.provenance.credit import credit_line
from belamy.provenance.record import SCHEMA, VERSION, Record, derive, read_record
from belamy.provenance.verify import Verification, verify_image

__all__ = ["SCHEMA", "VERSION", "Record", "Verification", "credit_line", "derive", "read_record", "verify_image"]
