"""The Qt side of LaunchDesk: windows, pages, item models, undo commands and the background-task helper."""
