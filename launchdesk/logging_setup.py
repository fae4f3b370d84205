"""Logging for the desktop app: everything at INFO and above goes to a rotating file in the log folder."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

LOG_FILE = "launchdesk.log"


def configure(log_dir: Path) -> Path | None:
    """Log to ``log_dir/launchdesk.log`` (1 MB, 3 old files kept); return its path, or None if it cannot be
    written, in which case the log goes to stderr so nothing is lost silently."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    path = log_dir / LOG_FILE
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError as exc:
        handler = logging.StreamHandler(sys.stderr)
        root.addHandler(handler)
        root.warning("Cannot write the log file %s (%s); logging to the console", path, exc)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return path
