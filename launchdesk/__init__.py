"""LaunchDesk: plan, gate and communicate phased feature rollouts."""

__version__ = "0.1.0"
APP_NAME = "LaunchDesk"
APP_ID = "io.launchdesk.LaunchDesk"
