"""Alembic schema revisions of the workspace, run from code (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def config(connection: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Any, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(config(connection), revision)


def script_revisions() -> list[str]:
    """Every revision of the scripts, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]
