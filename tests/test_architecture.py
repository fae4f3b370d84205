"""The architecture rules, checked: Qt stays out of the domain, and start-up stays light."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    """import-linter contracts from pyproject.toml: domain packages import no Qt, only views import QtWidgets."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: " in result.stdout and " broken" in result.stdout
    assert " 0 broken" in result.stdout, result.stdout


def test_only_views_and_app_import_qtwidgets():
    """import-linter cannot forbid a subpackage of an external package, so QtWidgets is checked here."""
    import ast

    offenders = []
    for path in (ROOT / "launchdesk").rglob("*.py"):
        rel = path.relative_to(ROOT / "launchdesk")
        if rel.parts[0] == "views" or rel.as_posix() == "app.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            offenders += [f"{rel}:{node.lineno}" for n in names if n.startswith("PySide6.QtWidgets")]
    assert offenders == []


def test_every_package_is_installed():
    """pyproject lists packages explicitly (resources/ is mapped in); a forgotten one would vanish from installs."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "launchdesk").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert "launchdesk.resources" in listed


def test_resources_ship_inside_the_package():
    from importlib.resources import files

    assert (files("launchdesk.resources") / "templates" / "default.json").is_file()


def test_startup_does_not_import_heavy_modules():
    """Alembic, httpx, keyring and Jinja2 are imported on first use, never while the window starts; SQLAlchemy
    and the mapped classes after the first paint (tests/test_workspace_read.py follows a real start-up)."""
    heavy = ('alembic', 'httpx', 'keyring', 'jinja2', 'launchdesk.demo', 'sqlalchemy', 'launchdesk.models.plan')
    code = (
        "import sys; import launchdesk.app, launchdesk.views.main_window, launchdesk.workspace; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
