"""Data files shipped with LaunchDesk (rollout templates, icons), read with importlib.resources."""
