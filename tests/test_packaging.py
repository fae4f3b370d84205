"""Desktop integration files are valid, icons ship at every size, and the frozen application works end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "packaging" / "linux"
APP_ID = "io.launchdesk.LaunchDesk"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed; scripts/provision installs it")
        pytest.skip(f"{name} is not installed (scripts/run-tests installs it)")
    return path


def test_desktop_file_is_valid():
    desktop = LINUX / f"{APP_ID}.desktop"
    result = subprocess.run([tool("desktop-file-validate"), str(desktop)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    text = desktop.read_text()
    assert "MimeType=application/x-launchdesk-workspace;" in text and f"Icon={APP_ID}" in text


def test_appstream_metainfo_is_valid():
    result = subprocess.run([tool("appstreamcli"), "validate", "--no-net", str(LINUX / f"{APP_ID}.metainfo.xml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mime_type_registers_workspace_files():
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    root = ET.parse(LINUX / f"{APP_ID}.xml").getroot()
    (mime,) = root.findall("m:mime-type", ns)
    assert mime.get("type") == "application/x-launchdesk-workspace"
    assert [g.get("pattern") for g in mime.findall("m:glob", ns)] == ["*.launchdesk"]


def test_icons_ship_at_every_size():
    from PySide6.QtGui import QImage

    icons = ROOT / "resources" / "icons"
    assert (icons / "launchdesk.svg").read_text().lstrip().startswith("<?xml")
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        image = QImage(str(icons / f"launchdesk-{size}.png"))
        assert (image.width(), image.height()) == (size, size)


@pytest.mark.slow
def test_frozen_application_passes_its_self_check(tmp_path):
    """Build the one-folder application with PyInstaller and run its self-check offscreen: it opens a demo
    workspace, renders the main window and exports a PDF, all from the frozen binary."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("pyinstaller is not installed; it is in the test extra that scripts/run-tests installs")
        pytest.skip("pyinstaller is not installed (scripts/run-tests installs the test extra)")
    dist, work = tmp_path / "dist", tmp_path / "build"
    build = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", str(dist),
         "--workpath", str(work), str(ROOT / "packaging" / "launchdesk.spec")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    binary = dist / "LaunchDesk" / "LaunchDesk"
    assert binary.exists()
    out = tmp_path / "self-check"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LAUNCHDESK_CONFIG_DIR": str(tmp_path / "config"),
           "LAUNCHDESK_DATA_DIR": str(tmp_path / "data"), "LAUNCHDESK_LOG_DIR": str(tmp_path / "logs")}
    check = subprocess.run([str(binary), "--self-check", str(out)], capture_output=True, text=True, env=env,
                           timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "self-check ok" in check.stdout
    assert (out / "main-window.png").stat().st_size > 10_000
    assert (out / "plan.pdf").read_bytes().startswith(b"%PDF")
    # the same binary runs the command line
    listed = subprocess.run([str(binary), "rollout", "list", str(out / "demo.launchdesk")], capture_output=True,
                            text=True, env=env, timeout=120)
    assert listed.returncode == 0 and "Workflow Automations" in listed.stdout
