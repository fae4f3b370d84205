"""The PDF plan export (QtGui painting, never widgets)."""
