"""Exporting trained generators for other runtimes (ONNX)."""

from belamy.export.onnx import export_generator, export_onnx, read_export_meta

__all__ = ["export_generator", "export_onnx", "read_export_meta"]
