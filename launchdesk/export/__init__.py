"""The PDF plan export (QtGui painting, never widgets).

The names here are light to import, so the command line can offer the choices without loading Qt.
"""

SECTIONS = ("cover", "readiness", "cohorts", "timeline", "gates", "decisions", "checklists", "comms")
PAGE_SIZES = ("A4", "Letter")
