"""The Cohorts tab: each cohort's name, description, target %, communication style and rule, edited in place.

The rule editor builds ``{"match", "conditions"}`` from rows of attribute, operator and values. While the user
edits, a background count (``planning.cohorts.measure`` through ``run_task``) says how many imported accounts
match, shows a sample of them and the other cohorts they also belong to; a rule that matches no one is a
warning. A complete rule is saved as an undo step when a row is left (successive edits merge into one step).
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Row, select

from launchdesk.models import Cohort, Phase
from launchdesk.planning.cohort_rules import SINGLE_VALUE_OPERATORS, CohortRuleError, validate_rule
from launchdesk.planning.cohorts import (
    OPERATOR_LABELS,
    Reach,
    known_attributes,
    measure,
    parse_values,
    values_text,
)
from launchdesk.views.commands import EditCohortField
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.item_models import Column, RecordTableModel, percent_text
from launchdesk.views.pages import RolloutPage, section
from launchdesk.views.plan_commands import AddCohort, DeleteCohort, EditCohortRule
from launchdesk.views.tasks import TaskHandle, run_task
from launchdesk.views.widgets import CommitTextEdit, fit_columns, table_view
from launchdesk.workspace import Workspace

WARNING_COLOR = "#b3261e"
COUNT_DELAY_MS = 250  # typing pauses this long before a count starts
DRAFT = "draft"  # the key of the rule being edited among the rules measured


class ConditionRow(QWidget):
    """One condition: attribute, operator, values, and a button that removes it."""

    changed = Signal()  # any edit, for the live count
    finished = Signal()  # an edit the user is done with, for saving
    remove_requested = Signal()

    def __init__(self, attributes: dict[str, list[str]], condition: dict[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.known = attributes
        self.attribute = QComboBox()
        self.attribute.setEditable(True)
        self.attribute.addItems(list(attributes))
        self.attribute.setMinimumContentsLength(14)
        self.attribute.lineEdit().setPlaceholderText("attribute")
        self.operator = QComboBox()
        for key, label in OPERATOR_LABELS.items():
            self.operator.addItem(label, key)
        self.values = QLineEdit()
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove this condition")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.attribute, 2)
        layout.addWidget(self.operator, 1)
        layout.addWidget(self.values, 3)
        layout.addWidget(self.remove)
        condition = condition or {"attribute": "", "operator": "in", "values": []}
        self.attribute.setCurrentText(str(condition.get("attribute", "")))
        self.operator.setCurrentIndex(max(self.operator.findData(condition.get("operator", "in")), 0))
        self.values.setText(values_text(condition.get("values", [])))
        self._hint()
        self.attribute.currentTextChanged.connect(self._edited)
        self.attribute.lineEdit().editingFinished.connect(self.finished)
        self.operator.currentIndexChanged.connect(lambda _i: (self._edited(), self.finished.emit()))
        self.values.textChanged.connect(self._edited)
        self.values.editingFinished.connect(self.finished)
        self.remove.clicked.connect(self.remove_requested)

    def _edited(self, *_args: Any) -> None:
        self._hint()
        self.changed.emit()

    def _hint(self) -> None:
        seen = self.known.get(self.attribute.currentText().strip(), [])
        single = self.operator.currentData() in SINGLE_VALUE_OPERATORS
        self.values.setPlaceholderText(
            ("a value" if single else "values, separated by commas") + (f", e.g. {', '.join(seen[:4])}" if seen else ""))

    def condition(self) -> dict[str, Any]:
        return {"attribute": self.attribute.currentText().strip(), "operator": self.operator.currentData(),
                "values": parse_values(self.values.text())}


class RuleEditor(QWidget):
    """All / any of a list of conditions; ``draft()`` is the rule as typed, ``problem()`` why it cannot be used."""

    changed = Signal()
    finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attributes: dict[str, list[str]] = {}
        self.rows: list[ConditionRow] = []
        self.match = QComboBox()
        self.match.addItem("all", "all")
        self.match.addItem("any", "any")
        self.match.currentIndexChanged.connect(lambda _i: (self.changed.emit(), self.finished.emit()))
        self.add_button = QPushButton("Add condition")
        self.add_button.clicked.connect(lambda: self.add_condition())
        head = QHBoxLayout()
        head.addWidget(QLabel("Accounts that match"))
        head.addWidget(self.match)
        head.addWidget(QLabel("of these conditions (none: every account):"))
        head.addStretch(1)
        self.row_box = QVBoxLayout()
        self.row_box.setSpacing(4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addLayout(self.row_box)
        foot = QHBoxLayout()
        foot.addWidget(self.add_button)
        foot.addStretch(1)
        layout.addLayout(foot)

    def set_rule(self, rule: dict[str, Any]) -> None:
        self.blockSignals(True)
        self.match.setCurrentIndex(1 if rule.get("match") == "any" else 0)
        for row in self.rows:
            row.deleteLater()
        self.rows = []
        for condition in rule.get("conditions") or []:
            self.add_condition(condition)
        self.blockSignals(False)

    def add_condition(self, condition: dict[str, Any] | None = None) -> ConditionRow:
        row = ConditionRow(self.attributes, condition)
        row.changed.connect(self.changed)
        row.finished.connect(self.finished)
        row.remove_requested.connect(lambda: self._remove(row))
        self.rows.append(row)
        self.row_box.addWidget(row)
        if condition is None:
            row.attribute.setFocus()
            self.changed.emit()
        return row

    def _remove(self, row: ConditionRow) -> None:
        self.rows.remove(row)
        row.deleteLater()
        self.changed.emit()
        self.finished.emit()

    def draft(self) -> dict[str, Any]:
        return {"match": self.match.currentData(), "conditions": [row.condition() for row in self.rows]}

    def problem(self) -> str | None:
        """Why the draft cannot be counted or saved yet, in the editor's words; None when it can."""
        for number, condition in enumerate(self.draft()["conditions"], start=1):
            if not condition["attribute"]:
                return f"Condition {number}: choose or type an attribute."
            if not condition["values"]:
                return f"Condition {number}: type a value."
            if condition["operator"] in SINGLE_VALUE_OPERATORS and len(condition["values"]) > 1:
                return f"Condition {number}: “{OPERATOR_LABELS[condition['operator']]}” takes one value."
        try:
            validate_rule(self.draft())
        except CohortRuleError as exc:
            return f"{str(exc)[0].upper()}{str(exc)[1:]}."
        return None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return values_text(value) if isinstance(value, list) else str(value)


def _count_accounts(progress: Any, cancelled: Any, workspace: Workspace, rules: dict[Any, dict[str, Any]]) -> Reach | None:
    with workspace.session() as session:
        return measure(session, rules, focus=DRAFT, cancelled=cancelled,
                       progress=lambda done, total: progress((done, total)))


class CohortsPage(RolloutPage):
    reload_on = frozenset({"cohort", "rollout", "phase"})

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.cohort_rows: list[Row[Any]] = []
        self.counts: dict[int, int] = {}
        self.cohort_id: int | None = None
        self.reach: Reach | None = None
        self.counting: TaskHandle | None = None
        self._loaded_rule: dict[str, Any] | None = None
        self._phases_by_cohort: dict[int, list[str]] = {}

        self.cohorts = RecordTableModel([
            Column("Cohort", lambda c: c.name, tooltip=lambda c: c.description or c.name),
            Column("Target %", lambda c: percent_text(c.target_percentage), numeric=True),
            Column("Accounts", lambda c: f"{self.counts[c.id]:,}" if c.id in self.counts else "…", numeric=True),
        ], parent=self)
        self.cohort_view = table_view(self.cohorts, stretch=0)
        self.cohort_view.selectionModel().currentRowChanged.connect(lambda current, _p: self._select_row(current.row()))
        self.add_button = QPushButton("Add cohort")
        self.add_button.clicked.connect(self.add_cohort)
        self.delete_button = QPushButton("Delete cohort")
        self.delete_button.clicked.connect(self.delete_cohort)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(section("Cohorts", self.cohort_view), 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)

        self.name = QLineEdit()
        self.name.editingFinished.connect(lambda: self._commit_field("name", self.name.text().strip()))
        self.target = QDoubleSpinBox()
        self.target.setRange(0.0, 100.0)
        self.target.setDecimals(2)
        self.target.setSuffix(" %")
        self.target.editingFinished.connect(lambda: self._commit_field("target_percentage",
                                                                       round(self.target.value(), 2)))
        self.description = CommitTextEdit()
        self.comms_style = CommitTextEdit()
        for box, field_name in ((self.description, "description"), (self.comms_style, "comms_style")):
            box.setTabChangesFocus(True)
            box.setFixedHeight(box.fontMetrics().lineSpacing() * 2 + 12)
            box.editingFinished.connect(lambda b=box, f=field_name: self._commit_field(f, b.toPlainText().strip()))
        form = QGridLayout()
        form.addWidget(QLabel("Name"), 0, 0)
        form.addWidget(self.name, 0, 1)
        form.addWidget(QLabel("Target"), 0, 2)
        form.addWidget(self.target, 0, 3)
        form.addWidget(QLabel("Description"), 1, 0)
        form.addWidget(self.description, 1, 1, 1, 3)
        form.addWidget(QLabel("Communication"), 2, 0)
        form.addWidget(self.comms_style, 2, 1, 1, 3)
        self.used_by = QLabel()
        self.used_by.setWordWrap(True)
        form.addWidget(QLabel("Used by"), 3, 0)
        form.addWidget(self.used_by, 3, 1, 1, 3)
        form.setColumnStretch(1, 1)

        self.rule = RuleEditor()
        self.rule.changed.connect(self._rule_changed)
        self.rule.finished.connect(self._commit_rule)
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        self.count_label.setTextFormat(Qt.TextFormat.RichText)
        self.overlaps_label = QLabel()
        self.overlaps_label.setWordWrap(True)
        self.sample = QStandardItemModel(self)
        self.sample_view = QTableView()
        self.sample_view.setModel(self.sample)
        self.sample_view.setSortingEnabled(True)
        self.sample_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sample_view.setAlternatingRowColors(True)
        self.sample_view.setShowGrid(False)
        self.sample_view.verticalHeader().setVisible(False)
        self.sample_view.horizontalHeader().setStretchLastSection(True)
        self.sample_view.verticalHeader().setDefaultSectionSize(self.sample_view.fontMetrics().height() + 8)

        self.editor = QWidget()
        right = QVBoxLayout(self.editor)
        right.setContentsMargins(0, 0, 0, 0)
        right.addLayout(form)
        right.addWidget(section("Rule", self.rule))
        right.addWidget(self.count_label)
        right.addWidget(self.overlaps_label)
        right.addWidget(section("Sample of matching accounts", self.sample_view), 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.editor)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 700])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(COUNT_DELAY_MS)
        self._count_timer.timeout.connect(self.count_now)
        document.workspace_replaced.connect(self._forget_workspace)
        self._show_cohort(None)

    # --- loading ---------------------------------------------------------------------------------------------
    def reload(self) -> None:
        workspace = self.document.workspace
        rows: list[Row[Any]] = []
        self._phases_by_cohort = {}
        if workspace is not None and self.rollout_id is not None:
            cohort = Cohort.__table__
            with workspace.session() as session:
                rows = list(session.execute(select(cohort).where(cohort.c.rollout_id == self.rollout_id)
                                            .order_by(cohort.c.position, cohort.c.id)))
                for cohort_id, name in session.execute(
                        select(Phase.cohort_id, Phase.name).where(Phase.rollout_id == self.rollout_id)
                        .where(Phase.cohort_id.is_not(None)).order_by(Phase.position)):
                    self._phases_by_cohort.setdefault(cohort_id, []).append(name)
                if not self.rule.attributes:
                    self.rule.attributes = known_attributes(session)
        self.cohort_rows = rows
        self.cohorts.set_rows(rows)
        fit_columns(self.cohort_view)
        row = self.cohorts.row_of(self.cohort_id) if self.cohort_id is not None else -1
        if rows and row < 0:
            row = 0
        if row >= 0:
            if self.cohort_view.currentIndex().row() != row:
                self.cohort_view.selectRow(row)  # selects, and _select_row shows it
            else:
                self._show_cohort(rows[row])
        else:
            self._show_cohort(None)

    def _select_row(self, row: int) -> None:
        cohort = self.cohort_rows[row] if 0 <= row < len(self.cohort_rows) else None
        if cohort is not None and cohort.id != self.cohort_id:
            self._loaded_rule = None  # another cohort: its rule replaces the rows
        self._show_cohort(cohort)

    def _show_cohort(self, cohort: Row[Any] | None) -> None:
        self.cohort_id = cohort.id if cohort else None
        self.editor.setEnabled(cohort is not None)
        self.delete_button.setEnabled(cohort is not None)
        self.add_button.setEnabled(self.rollout_id is not None)
        if cohort is None:
            self._loaded_rule = None
            self.rule.set_rule({"match": "all", "conditions": []})
            self.count_label.setText("")
            self.overlaps_label.setText("")
            self.sample.clear()
            return
        if not self.name.isModified():
            self.name.setText(cohort.name)
        if not self.target.hasFocus():
            self.target.setValue(cohort.target_percentage)
        self.description.set_text_unless_editing(cohort.description)
        self.used_by.setText(", ".join(self._phases_by_cohort.get(cohort.id, [])) or "no phase yet")
        self.comms_style.set_text_unless_editing(cohort.comms_style)
        # Rows are rebuilt only when the saved rule changed under them (undo, redo, another cohort), never
        # while the user is halfway through a condition.
        if cohort.rule != self._loaded_rule and cohort.rule != self.rule.draft():
            self.rule.set_rule(cohort.rule)
        self._loaded_rule = copy.deepcopy(cohort.rule)
        self.count_now()

    # --- counting --------------------------------------------------------------------------------------------
    def _rule_changed(self) -> None:
        problem = self.rule.problem()
        if problem:
            self._stop_counting()
            self.count_label.setText(f'<span style="color:{WARNING_COLOR}">{problem}</span>')
            return
        self._count_timer.start()

    def count_now(self) -> None:
        """Count, now, the accounts the draft rule and the other cohorts match (in the background)."""
        self._count_timer.stop()
        workspace = self.document.workspace
        if workspace is None or self.cohort_id is None or self.rule.problem():
            return
        self._stop_counting()
        rules: dict[Any, dict[str, Any]] = {c.id: c.rule for c in self.cohort_rows if c.id != self.cohort_id}
        rules[DRAFT] = self.rule.draft()
        self.count_label.setText("Counting the matching accounts…")
        self.counting = run_task(_count_accounts, workspace, rules, on_done=self._counted,
                                 on_error=self._count_failed, on_progress=self._count_progress)

    def _forget_workspace(self) -> None:
        self._stop_counting()
        self.rule.attributes = {}  # the next workspace's accounts have their own attributes
        self.counts = {}

    @property
    def count_pending(self) -> bool:
        """A count is waiting for the typing to pause, or running."""
        return self._count_timer.isActive() or self.counting is not None

    def _stop_counting(self) -> None:
        self._count_timer.stop()
        if self.counting is not None:
            self.counting.cancel()
            self.counting = None

    def _count_progress(self, value: tuple[int, int]) -> None:
        done, total = value
        if done < total:
            self.count_label.setText(f"Counting the matching accounts… {done:,} of {total:,}")

    def _count_failed(self, exc: BaseException) -> None:
        self.counting = None
        self.count_label.setText(f'<span style="color:{WARNING_COLOR}">Could not count the accounts: {exc}</span>')

    def _counted(self, reach: Reach | None) -> None:
        self.counting = None
        if reach is None:
            return
        self.reach = reach
        matching = reach.counts[DRAFT]
        self.counts = {k: v for k, v in reach.counts.items() if k != DRAFT}
        if self.cohort_id is not None:
            self.counts[self.cohort_id] = matching
        self.cohorts.set_rows(self.cohort_rows)
        if reach.total == 0:
            self.count_label.setText("No accounts imported yet: import them (File ▸ Import accounts) to see who "
                                     "this rule reaches.")
        elif matching == 0:
            self.count_label.setText(f'<span style="color:{WARNING_COLOR}"><b>Warning: this rule matches no '
                                     f'account</b> of the {reach.total:,} imported; this cohort would reach '
                                     "no one.</span>")
        else:
            self.count_label.setText(f"<b>{matching:,}</b> of {reach.total:,} accounts match "
                                     f"({100 * matching / reach.total:.0f}%).")
        names = {c.id: c.name for c in self.cohort_rows}
        overlaps = [f"{names[k]} ({n:,})" for k, n in reach.overlaps(DRAFT) if k in names]
        self.overlaps_label.setText(f"Also in: {', '.join(overlaps)}." if overlaps
                                    else "Overlaps with no other cohort." if matching else "")
        self._fill_sample(reach)

    def _fill_sample(self, reach: Reach) -> None:
        attributes = list(dict.fromkeys(a for s in reach.sample for a in s.attributes))
        self.sample.clear()
        self.sample.setHorizontalHeaderLabels(["Account", "Name", *attributes])
        for account in reach.sample:
            cells = [account.account_key, account.name, *(_cell(account.attributes.get(a)) for a in attributes)]
            self.sample.appendRow([QStandardItem(text) for text in cells])
        self.sample_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.sample_view.horizontalHeader().setStretchLastSection(True)

    # --- edits -----------------------------------------------------------------------------------------------
    def _push(self, make: Any) -> Any:
        """Make and push an undo command; the command when it was saved, else None (the user was told why)."""
        return self.document.push(make)

    def _current(self) -> Row[Any] | None:
        return next((c for c in self.cohort_rows if c.id == self.cohort_id), None)

    def _commit_field(self, field_name: str, value: Any) -> None:
        if field_name == "name":
            self.name.setModified(False)
        cohort = self._current()
        if cohort is None or value == getattr(cohort, field_name):
            return
        if field_name == "name" and not value:
            self.name.setText(cohort.name)  # a cohort keeps a name
            return
        self._push(lambda: EditCohortField(self.document, cohort.id, field_name, value))

    def _commit_rule(self) -> None:
        cohort = self._current()
        draft = self.rule.draft()
        if cohort is None or self.rule.problem() or draft == cohort.rule:
            return
        if self._push(lambda: EditCohortRule(self.document, cohort.id, draft)) is not None:
            self._loaded_rule = copy.deepcopy(draft)

    def add_cohort(self) -> None:
        if self.rollout_id is None:
            return
        taken = {c.name for c in self.cohort_rows}
        name = next(n for n in (f"New cohort {i}" if i else "New cohort" for i in range(len(taken) + 1))
                    if n not in taken)
        rollout_id = self.rollout_id
        command = self._push(lambda: AddCohort(self.document, rollout_id, name))
        if command is not None:
            self.cohort_id = command.row_id
            self._loaded_rule = None
            self.invalidate()
            self.name.setFocus()
            self.name.selectAll()

    def delete_cohort(self) -> None:
        cohort = self._current()
        if cohort is not None:
            self._push(lambda: DeleteCohort(self.document, cohort.id))
