"""OCI validation: our own JSON Schemas (schemas/) plus the semantic checks no schema can express.

    from ocix.validate import validate_path, validate_document, validate_image_tree
    report = validate_path("bundle/")          # -> Report(kind, target, findings), .valid
"""

from __future__ import annotations

from .document import KINDS, detect, validate_bytes, validate_document
from .findings import Finding, Report, Severity
from .targets import validate_bundle, validate_layout, validate_path
from .walker import BlobOpener, validate_image_tree

__all__ = ["KINDS", "BlobOpener", "Finding", "Report", "Severity", "detect", "validate_bundle",
           "validate_bytes", "validate_document", "validate_image_tree", "validate_layout",
           "validate_path"]
