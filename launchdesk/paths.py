"""Where LaunchDesk keeps the user's files (platformdirs): data (the demo workspace), config, logs."""

from __future__ import annotations

import os
from pathlib import Path

from launchdesk import APP_NAME

_AUTHOR = "LaunchDesk"


def _dirs():  # imported lazily: platformdirs is cheap, but start-up imports nothing it does not use
    from platformdirs import PlatformDirs

    return PlatformDirs(APP_NAME, _AUTHOR)


def data_dir() -> Path:
    override = os.environ.get("LAUNCHDESK_DATA_DIR")
    return Path(override) if override else Path(_dirs().user_data_dir)


def config_dir() -> Path:
    override = os.environ.get("LAUNCHDESK_CONFIG_DIR")
    return Path(override) if override else Path(_dirs().user_config_dir)


def log_dir() -> Path:
    override = os.environ.get("LAUNCHDESK_LOG_DIR")
    return Path(override) if override else Path(_dirs().user_log_dir)


def demo_workspace() -> Path:
    return data_dir() / "demo.launchdesk"
