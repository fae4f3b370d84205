"""Per-mouse-move cost of dragging a phase on the timeline, as a ratio to a bare QGraphicsView dragging a rect.

The timeline shows 50 rollouts × 5 phases (250 bars) with 500 markers; the bare view holds the same number of
plain QGraphicsRectItems (movable, Qt's own drag). Both get the same scripted drag on their viewport through
QTest: a press, then 200 mouse moves going right and back, each move painted (events processed) before the next.
The plan lives in memory, as the timeline keeps it during a drag: no database is touched. Runs alternate so
machine noise hits both alike.

Two drags are timed:
- "mouse": moves of 4 px, as a hand moves a mouse; the timeline snaps to days (36 px), so most moves keep the
  snapped position and only some recompute the ripple. This is the ratio the target (<= 3) is about.
- "every move snaps": moves of one whole day, so each of the 200 moves recomputes the ripple preview (five bars,
  their ghosts, the dates label, warnings): the worst case, printed for information.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/timeline_drag.py [--runs 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QGraphicsItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView  # noqa: E402

from launchdesk.models import Channel, MessageState, PhaseKind, PhaseStatus, Role  # noqa: E402
from launchdesk.planning.business_hours import BusinessHours  # noqa: E402
from launchdesk.views.timeline import TimelineScene, TimelineView  # noqa: E402
from launchdesk.views.timeline_items import BAR_HEIGHT  # noqa: E402
from launchdesk.views.timeline_model import ChecklistDue, ScheduledMessage, TimelinePhase, TimelinePlan  # noqa: E402

ROLLOUTS, PHASES_PER_ROLLOUT, MOVES = 50, 5, 200
UTC = dt.timezone.utc
NOW = dt.datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


def plans() -> list[TimelinePlan]:
    """50 rollouts of 5 phases, each phase with one message and one checklist marker: 250 bars, 500 markers."""
    hours = BusinessHours.parse("Europe/Berlin")
    result = []
    next_id = 1
    for r in range(ROLLOUTS):
        # Mondays to Fridays at 09:00 in Berlin: inside business hours, so no warning badges are drawn.
        launch = dt.datetime(2027, 1, 11, 8, 0, tzinfo=UTC) + dt.timedelta(days=r % 5)
        phases = []
        for n in range(PHASES_PER_ROLLOUT):
            start = launch + dt.timedelta(days=7 * n)
            phases.append(TimelinePhase(
                id=next_id, rollout_id=r + 1, name=f"Phase {n + 1}: Cohort {n + 1}", kind=PhaseKind.ROLLOUT,
                status=PhaseStatus.PLANNED, cohort_name=f"Cohort {n + 1}", target_percentage=[5, 10, 25, 50, 100][n],
                start=start, end=start + dt.timedelta(days=6),
                checklist=(ChecklistDue(next_id, Role.PMM, "Review the cohort", -48 * 60, False),),
                messages=(ScheduledMessage(next_id, "Announcement", Channel.EMAIL, MessageState.APPROVED, 120),),
            ))
            next_id += 1
        result.append(TimelinePlan(r + 1, f"Rollout {r + 1}", phases, hours))
    return result


def offsets(step: float, turn_after: int) -> list[int]:
    """200 x offsets from the press point, ``step`` apart, going right then back every ``turn_after`` moves."""
    out, position, direction = [], 0, 1
    for _ in range(MOVES):
        position += direction
        if abs(position) >= turn_after:
            direction = -direction
        out.append(round(position * step))
    return out


def run_drag(view: QGraphicsView, press: QPoint, moves: list[int]) -> float:
    """Seconds per mouse move, each move painted before the next."""
    app = QApplication.instance()
    viewport = view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, press)
    QTest.mouseMove(viewport, press + QPoint(12, 0))  # past the drag threshold: the gesture starts
    app.processEvents()
    start = time.perf_counter()
    for dx in moves:
        QTest.mouseMove(viewport, press + QPoint(dx, 0))
        app.processEvents()
    elapsed = time.perf_counter() - start
    QTest.mouseMove(viewport, press)  # back where it started, so the next run presses the same item
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, press)
    app.processEvents()
    return elapsed / len(moves)


def timeline_view() -> tuple[TimelineView, QPoint, float]:
    scene = TimelineScene()
    scene.clock = lambda: NOW
    scene.set_plans(plans())
    view = TimelineView(scene)
    view.resize(1280, 800)
    view.show()
    # The first phase of a rollout in view: its drag ripples through the rollout's four later phases.
    plan = scene.plans[3]
    bar = scene.bars[plan.phases[0].id]
    view.centerOn(bar.pos().x() + 200, bar.pos().y() + 150)
    QApplication.instance().processEvents()
    press = view.mapFromScene(bar.mapToScene(QPointF(bar.width / 2, BAR_HEIGHT / 2)))
    view.reschedule_requested.connect(lambda *_: None)  # released without committing: no database here
    return view, press, scene.zoom.px_per_day


def bare_view(timeline: TimelineScene) -> tuple[QGraphicsView, QPoint]:
    """The same number of plain rects at the same places; the dragged one is movable and Qt drags it."""
    scene = QGraphicsScene()
    scene.setSceneRect(timeline.sceneRect())
    target = None
    for bar in timeline.bars.values():
        rect = QGraphicsRectItem(QRectF(0, 0, bar.width, BAR_HEIGHT))
        rect.setPos(bar.pos())
        rect.setBrush(Qt.GlobalColor.gray)
        rect.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        scene.addItem(rect)
        for marker in bar.childItems():
            if marker.isVisible():
                dot = QGraphicsRectItem(QRectF(-5, -5, 10, 10))
                dot.setPos(marker.scenePos())
                scene.addItem(dot)
        if bar.phase.id == timeline.plans[3].phases[0].id:
            target = rect
    view = QGraphicsView(scene)
    scene.setParent(view)  # the view does not own its scene; this keeps it alive as long as the view
    view.resize(1280, 800)
    view.show()
    assert target is not None
    view.centerOn(target.pos().x() + 200, target.pos().y() + 150)
    QApplication.instance().processEvents()
    press = view.mapFromScene(target.mapToScene(QPointF(target.rect().width() / 2, BAR_HEIGHT / 2)))
    return view, press


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    timeline, press, step = timeline_view()
    bare, bare_press = bare_view(timeline.timeline)
    markers = sum(len(b.childItems()) - 1 for b in timeline.timeline.bars.values())  # less the warning badge
    print(f"timeline: {len(timeline.timeline.bars)} phases, {markers} markers, snapping to {step:g} px; "
          f"bare: {len(bare.scene().items())} rects; {MOVES} moves per drag, {args.runs} runs each")
    drags = {"mouse": offsets(4, 60), "every move snaps": offsets(step, 6)}
    ratios = {}
    for name, moves in drags.items():
        ours, theirs = [], []
        for _ in range(args.runs):
            theirs.append(run_drag(bare, bare_press, moves))
            ours.append(run_drag(timeline, press, moves))
        ours_ms, bare_ms = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
        ratios[name] = ours_ms / bare_ms
        print(f"{name:>17} drag: bare QGraphicsView {bare_ms:.3f} ms per move, LaunchDesk timeline "
              f"{ours_ms:.3f} ms per move, ratio {ratios[name]:.2f}")
    print(f"ratio: {ratios['mouse']:.2f} (target <= 3; every move snapping: {ratios['every move snaps']:.2f})")
    app.processEvents()
    # The views go before the application does: left to the end of this function, Python may drop the
    # QApplication first, and a widget destroyed after it crashes the process on its way out.
    for view in (timeline, bare):
        view.close()
        view.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)


if __name__ == "__main__":
    main()
