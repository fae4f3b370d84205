"""The PDF plan: each section's content found in the PDF's text, tiled legible timeline pages, metadata, embedded
fonts, no secret anywhere in the file, escaped names, the command line, and the File menu's export dialog."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from servers import unavailable
from sqlalchemy import select

from launchdesk.export.pdf import ExportCancelled, ExportProgress, export_plan
from launchdesk.export.plan import ExportError, ExportOptions
from launchdesk.models import (
    Account,
    ChecklistItem,
    Contact,
    Decision,
    Delivery,
    Gate,
    Phase,
    Role,
    Rollout,
    Setting,
)
from launchdesk.planning.checklists import due_at
from launchdesk.planning.template import create_rollout_from_template, load_template
from launchdesk.workspace import create_workspace, open_workspace

UTC = dt.timezone.utc
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def rollout_id(path: Path, name: str) -> int:
    with open_workspace(path) as ws, ws.session() as session:
        return session.scalars(select(Rollout.id).where(Rollout.name == name)).one()


def export(path: Path, name: str, out: Path, **options: Any) -> Path:
    with open_workspace(path) as ws:
        export_plan(ws, rollout_id(path, name), out, ExportOptions(**options))
    return out


def page_texts(pdf: Path) -> list[str]:
    """Each page's text with runs of white space made one space (Qt's PDFs space words with tabs)."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(pdf).pages]


def plan_with_phases(path: Path, count: int, *, name: str = "Long plan") -> Path:
    """A new workspace holding one rollout of ``count`` week-long expansions (after the template's preparation)."""
    template = load_template()
    cohorts = [c["name"] for c in template["cohorts"]]
    preparation = [p for p in template["phases"] if p["kind"] == "preparation"]
    waves = [{"kind": "rollout", "name": f"Wave {n:02d}", "cohort": cohorts[n % len(cohorts)],
              "target_percentage": min(100, 2.5 * n), "duration_days": 6, "gap_after_days": 1}
             for n in range(1, count + 1)]
    template = {**template, "phases": preparation + waves}
    with create_workspace(path) as ws, ws.transaction() as session:
        create_rollout_from_template(session, template, name=name, feature_name="Long feature",
                                     launch_start=dt.datetime(2027, 1, 11, 9, tzinfo=UTC), owner="Ada")
    return path


# --- content -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_pdf(tmp_path_factory: pytest.TempPathFactory, _demo_original: Path, qapp) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """The demo's mid-rollout plan with every section, and the workspace it came from."""
    folder = tmp_path_factory.mktemp("pdf")
    workspace = Path(shutil.copy(_demo_original, folder / "demo.launchdesk"))
    return export(workspace, "Workflow Automations", folder / "plan.pdf"), workspace


def test_every_section_shows_its_content(demo_pdf: tuple[Path, Path]) -> None:
    pdf, workspace = demo_pdf
    pages = page_texts(pdf)
    text = " ".join(pages)
    assert "Workflow automations" in pages[0] and "Mia Hoffmann" in pages[0]  # the feature and owner on the cover
    assert "workflow-automations in production" in pages[0] and "Last flag sync" in pages[0]
    assert "Kill switch tested on" in text and "Rollback plan" in text
    # a cohort's rule in words, with its target and count
    assert "Who is in it segment is mid_market and engagement is one of high, power" in text
    assert "Error rate" in text and "< 0.1 %" in text  # a gate with its threshold
    assert re.search(r"P99 latency .*< 200 ms", text)

    with open_workspace(workspace) as ws, ws.session() as session:
        no_go = session.scalars(select(Decision).where(Decision.reason.like("Error rate and P99%"))).one()
        overridden = session.scalars(select(Decision).where(Decision.overridden)).first()
        item = session.scalars(select(ChecklistItem).join(Phase).join(Rollout).where(
            Rollout.name == "Workflow Automations", Phase.name.like("Phase 4%"), ChecklistItem.role == Role.SUPPORT
        ).order_by(ChecklistItem.offset_minutes)).first()
        zone = ZoneInfo(session.get(Setting, "team.timezone").value)
        assert overridden is not None
        override_phase = overridden.phase.name
        due = due_at(item.phase.planned_start, item.offset_minutes, zone)
        title = item.title
    assert no_go.reason in text
    assert f"Go: {override_phase} OVERRIDE" in text
    local = due.astimezone(zone)
    due_text = f"{local:%a} {local.day} {MONTHS[local.month - 1][:3]} {local.year} {local:%H:%M}"
    checklist_pages = [p for p in pages if "Checklists" in p[:80]]
    assert any(title in p and f"{due_text} 48 h before" in p and "Support" in p for p in checklist_pages)
    assert "Personal outreach" in text and "Approved" in text  # the comms plan
    total = len(pages)
    assert all(f"Page {n} of {total}" in page for n, page in enumerate(pages, start=1))
    assert all(page.startswith("Workflow Automations") for page in pages)  # the header names the rollout


def test_message_bodies_only_when_asked_and_never_recipients(demo_pdf: tuple[Path, Path], tmp_path: Path) -> None:
    pdf, workspace = demo_pdf
    without = " ".join(page_texts(pdf))
    with_bodies = " ".join(page_texts(export(workspace, "Workflow Automations", tmp_path / "b.pdf",
                                             sections=("comms",), message_bodies=True)))
    assert "You are among the very first" not in without
    assert "You are among the very first" in with_bodies
    with open_workspace(workspace) as ws, ws.session() as session:
        recipients = session.scalars(select(Delivery.recipient)).all()
        first_names = set(session.scalars(select(Contact.first_name)).all())
    assert len(recipients) > 100  # the demo sent to hundreds of people...
    assert not any(r in with_bodies for r in recipients)  # ...and none of them is in the PDF
    assert "sent" in with_bodies and not any(f"Hi {name}" in with_bodies for name in first_names)


def test_the_pdf_has_title_author_and_embedded_fonts(demo_pdf: tuple[Path, Path]) -> None:
    reader = PdfReader(demo_pdf[0])
    assert reader.metadata.title == "Workflow Automations: rollout plan"
    assert reader.metadata.author == "Mia Hoffmann"  # the rollout's owner
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            fonts[str(font["/BaseFont"])] = descendant["/FontDescriptor"].get_object()
    assert fonts and any("DejaVu" in name for name in fonts)
    assert all({"/FontFile", "/FontFile2", "/FontFile3"} & set(d.keys()) for d in fonts.values()), fonts


def test_author_is_the_current_user_without_an_owner(tmp_path: Path, qapp, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    workspace = plan_with_phases(tmp_path / "w.launchdesk", 2)
    with open_workspace(workspace) as ws, ws.transaction() as session:
        session.scalars(select(Rollout)).one().owner = ""
    monkeypatch.setenv("LAUNCHDESK_USER", "Grace Planner")
    pdf = export(workspace, "Long plan", tmp_path / "p.pdf", sections=("cover",))
    assert PdfReader(pdf).metadata.author == "Grace Planner"


def test_sections_can_be_left_out(demo_pdf: tuple[Path, Path], tmp_path: Path) -> None:
    pdf = export(demo_pdf[1], "Workflow Automations", tmp_path / "two.pdf", sections=("gates", "cover"))
    pages = page_texts(pdf)
    assert len(pages) == 2 and len(pages) < len(page_texts(demo_pdf[0]))
    assert "Workflow automations" in pages[0] and "Gates" in pages[1]  # plan order, whatever the order asked
    text = " ".join(pages)
    for gone in ("Decision log", "Checklists", "Comms plan", "Readiness", "Who is in it"):
        assert gone not in text
    with pytest.raises(ExportError, match="Unknown section"):
        ExportOptions(sections=("cover", "budget"))


def test_pages_are_not_blank(demo_pdf: tuple[Path, Path], tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        unavailable("pdftoppm (poppler-utils) is not installed")
    subprocess.run(["pdftoppm", "-r", "20", "-gray", demo_pdf[0], tmp_path / "page"], check=True)
    images = sorted(tmp_path.glob("page-*.pgm"))
    assert len(images) == len(PdfReader(demo_pdf[0]).pages)
    for image in images:
        data = image.read_bytes()
        header = data.split(b"\n", 3)  # P5, width height, 255, pixels
        pixels = header[3]
        inked = sum(1 for value in pixels if value < 200)
        assert inked > 0.01 * len(pixels), f"{image.name} is (nearly) blank"


# --- the timeline ------------------------------------------------------------------------------------------------


def test_a_long_plan_is_tiled_across_landscape_pages_with_dates_on_each(tmp_path: Path, qapp) -> None:  # type: ignore[no-untyped-def]
    short = export(plan_with_phases(tmp_path / "short.launchdesk", 5, name="Short"), "Short", tmp_path / "s.pdf",
                   sections=("timeline",))
    long = export(plan_with_phases(tmp_path / "long.launchdesk", 40), "Long plan", tmp_path / "l.pdf",
                  sections=("timeline",))
    assert len(PdfReader(short).pages) == 1  # a plan that fits is one page, not stretched over several
    reader = PdfReader(long)
    assert len(reader.pages) >= 3
    texts = page_texts(long)
    for page, text in zip(reader.pages, texts):
        assert page.mediabox.width > page.mediabox.height  # landscape
        assert re.search(rf"({'|'.join(MONTHS)}) 20\d\d", text), text[:200]  # the axis' month and year
        assert re.search(r"\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b", text)  # day labels
        assert "Timeline" in text and "phases" in text
    every = " ".join(texts)
    assert all(f"Wave {n:02d}" in every for n in range(1, 41))  # every phase is labelled, none dropped
    assert texts[0].count("Wave") < 20  # a page holds a readable band of rows, not all forty squeezed in


def test_a_plan_longer_than_a_page_is_cut_into_date_windows(tmp_path: Path, qapp) -> None:  # type: ignore[no-untyped-def]
    """One phase a year long cannot fit a page at a legible scale: it continues on the next tile."""
    workspace = plan_with_phases(tmp_path / "year.launchdesk", 1, name="Year")
    with open_workspace(workspace) as ws, ws.transaction() as session:
        phase = session.scalars(select(Phase).where(Phase.name == "Wave 01")).one()
        phase.planned_end = phase.planned_start + dt.timedelta(days=365)
    texts = page_texts(export(workspace, "Year", tmp_path / "y.pdf", sections=("timeline",)))
    assert len(texts) >= 4
    windows = [re.search(r"(\w{3} \d+ \w{3} \d{4}) – (\w{3} \d+ \w{3} \d{4}) · phases", t) for t in texts]
    assert all(windows)
    assert len({w.group(1) for w in windows}) == len(texts)  # each page covers its own stretch of dates


# --- safety --------------------------------------------------------------------------------------------------------


def all_pdf_text(pdf: Path) -> bytes:
    """The raw file, every stream decompressed, and the extracted text of every page."""
    raw = pdf.read_bytes()
    inflated = []
    for match in re.finditer(rb"stream\r?\n", raw):
        try:
            inflated.append(zlib.decompressobj().decompress(raw[match.end():]))
        except zlib.error:
            continue
    text = " ".join(page_texts(pdf)).encode()
    return raw + b"".join(inflated) + text


def test_no_secret_or_credential_anywhere_in_the_pdf(demo_workspace: Path, tmp_path: Path, qapp,  # type: ignore[no-untyped-def]
                                                      secret_service) -> None:
    from launchdesk.connections import add_connection, secret_key
    from launchdesk.secrets import delete_secret

    token = f"tok-{secrets.token_hex(16)}"
    url_password = f"pw{secrets.token_hex(8)}"
    keys = []
    try:
        with open_workspace(demo_workspace) as ws, ws.transaction() as session:
            flags = add_connection(session, "Team flags", "unleash", environment="production", secret=token,
                                   url=f"https://admin:{url_password}@flags.example.com:4242/api?key={url_password}")
            metrics = add_connection(session, "Prod metrics", "prometheus", url="https://prom.example.com",
                                     secret=token)
            keys += [secret_key(flags), secret_key(metrics)]
            rollout = session.scalars(select(Rollout).where(Rollout.name == "Workflow Automations")).one()
            rollout.flag_connection = flags
            session.scalars(select(Gate).where(Gate.rollout_id == rollout.id)).first().source_connection = metrics
        pdf = export(demo_workspace, "Workflow Automations", tmp_path / "plan.pdf", message_bodies=True)
    finally:
        for key in keys:
            delete_secret(key)
    everything = all_pdf_text(pdf)
    assert token.encode() not in everything
    assert url_password.encode() not in everything and b"admin:" not in everything
    text = " ".join(page_texts(pdf))
    assert "https://flags.example.com:4242/api" in text  # where the flag lives, without how to sign in
    assert "Prometheus: Prod metrics" in text


def test_html_in_names_prints_as_text(tmp_path: Path, qapp) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "w.launchdesk"
    with create_workspace(path) as ws, ws.transaction() as session:
        create_rollout_from_template(session, load_template(), name="<i>Beta</i> & launch",
                                     feature_name="<b>Bold</b> feature", launch_start=dt.datetime(2027, 1, 11, 9, tzinfo=UTC))
        session.add(Account(account_key="A-1", name="<b>Acme</b> & <img src=x>", name_folded="acme",
                            attributes={"segment": "internal"}))
    text = " ".join(page_texts(export(path, "<i>Beta</i> & launch", tmp_path / "p.pdf",
                                      sections=("cover", "cohorts"))))
    assert "<b>Bold</b> feature" in text and "<i>Beta</i> & launch" in text
    assert "<b>Acme</b> & <img src=x>" in text  # a cohort's example account, shown as typed


# --- progress, cancel, command line ---------------------------------------------------------------------------------


def test_progress_is_reported_and_cancel_leaves_no_file(demo_pdf: tuple[Path, Path], tmp_path: Path) -> None:
    workspace = demo_pdf[1]
    seen: list[ExportProgress] = []
    out = tmp_path / "p.pdf"
    with open_workspace(workspace) as ws:
        result = export_plan(ws, rollout_id(workspace, "Workflow Automations"), out, progress=seen.append)
        assert result.pages == len(PdfReader(out).pages)
        fractions = [p.fraction for p in seen]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        assert seen[-1].text == f"Page {result.pages} of {result.pages}"

        out.write_bytes(b"the previous export")
        with pytest.raises(ExportCancelled):
            export_plan(ws, rollout_id(workspace, "Workflow Automations"), out,
                        progress=seen.append, cancelled=lambda: len(seen) > len(fractions) + 3)
    assert out.read_bytes() == b"the previous export"  # an existing file is untouched by a cancelled export
    assert list(tmp_path.iterdir()) == [out]  # and no partial file is left behind


def test_the_command_writes_the_pdf(demo_workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.pdf"
    # Without QT_QPA_PLATFORM the command must pick the offscreen platform itself (no display here).
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    result = subprocess.run(
        [sys.executable, "-m", "launchdesk.cli", "export", str(demo_workspace), "Workflow Automations",
         "--pdf", str(out), "--sections", "cover,gates", "checklists", "--page-size", "Letter"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    pages = PdfReader(out).pages
    assert f"({len(pages)} pages)" in result.stdout
    assert (pages[0].mediabox.width, pages[0].mediabox.height) == (612, 792)  # Letter
    text = " ".join(page_texts(out))
    assert "Checklists" in text and "Gates" in text and "Decision log" not in text

    failed = subprocess.run([sys.executable, "-m", "launchdesk.cli", "export", str(demo_workspace), "Nope",
                             "--pdf", str(tmp_path / "x.pdf")], capture_output=True, text=True, env=env, timeout=120)
    assert failed.returncode == 1 and "no rollout named 'Nope'" in failed.stderr
    assert not (tmp_path / "x.pdf").exists()


# --- the window ----------------------------------------------------------------------------------------------------


@pytest.fixture
def window(qtbot, tmp_path: Path, demo_workspace: Path):  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QSettings

    from launchdesk.views.main_window import MainWindow

    win = MainWindow(QSettings(str(tmp_path / "settings" / "LaunchDesk.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    assert win.open_workspace(demo_workspace)
    win.select_rollout(rollout_id(demo_workspace, "Workflow Automations"))
    return win


def open_export_dialog(window: Any) -> Any:
    from launchdesk.views.export_dialog import ExportPlanDialog

    window.export_pdf_action.trigger()
    dialog = window.findChild(ExportPlanDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.open_when_done.setChecked(False)  # no PDF viewer in the tests
    return dialog


def test_file_menu_exports_the_selected_rollout_with_progress(window: Any, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = open_export_dialog(window)
    assert "Workflow Automations" in dialog.windowTitle()
    out = tmp_path / "from the window.pdf"
    dialog.path.setText(str(out))
    dialog.section_boxes["checklists"].setChecked(False)
    dialog.message_bodies.setChecked(True)
    dialog.page_size.setCurrentText("Letter")
    seen: list[int] = []
    dialog.progress.valueChanged.connect(seen.append)
    with qtbot.waitSignal(dialog.exported, timeout=60_000) as exported:
        dialog.export_button.click()
        assert not dialog.export_button.isEnabled()  # one export at a time
    assert exported.args == [str(out)]
    assert seen and seen[-1] == 100 and len(seen) > 3
    reader = PdfReader(out)
    assert reader.pages[0].mediabox.width == 612
    text = " ".join(page_texts(out))
    assert "Decision log" in text and "Checklists" not in text and "You are among the very first" in text
    qtbot.waitUntil(lambda: "Exported the plan to" in window.statusBar().currentMessage())


def test_cancelling_the_export_writes_nothing(window: Any, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = open_export_dialog(window)
    dialog.path.setText(str(tmp_path / "never.pdf"))
    exported: list[str] = []
    dialog.exported.connect(exported.append)
    dialog.export_button.click()
    task = dialog.task
    assert task is not None
    dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: not task.running, timeout=60_000)
    assert list(tmp_path.glob("*.pdf")) == [] and list(tmp_path.glob(".*.part")) == []
    assert exported == []


def test_an_export_needs_a_section_and_reports_a_bad_folder(window: Any, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = open_export_dialog(window)
    for box in dialog.section_boxes.values():
        box.setChecked(False)
    assert not dialog.export_button.isEnabled()
    dialog.section_boxes["gates"].setChecked(True)
    dialog.path.setText(str(tmp_path / "missing folder" / "plan.pdf"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: "does not exist" in dialog.status.text(), timeout=30_000)
    assert dialog.task is None and dialog.export_button.isEnabled() and not dialog.progress.isVisible()


def test_closing_the_workspace_closes_the_dialog(window: Any, qtbot) -> None:  # type: ignore[no-untyped-def]
    import shiboken6

    dialog = open_export_dialog(window)
    window.close_workspace()
    qtbot.waitUntil(lambda: not shiboken6.isValid(dialog) or not dialog.isVisible())
