"""Shared test set-up: Qt renders offscreen, and the real servers' fixtures are available to every test."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from servers import *  # noqa: E402,F401,F403
