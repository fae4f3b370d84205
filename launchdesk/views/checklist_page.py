"""The Checklists tab: each role's duties for the selected rollout, grouped by phase and moment, tickable.

Items show their due time on the team's clock; overdue items and items due within 24 hours stand out by colour
and by the words in their status. The role filter is "my role", remembered between runs (QSettings). Every
edit (tick, untick, add, edit, move, delete) is an undo command from ``checklist_commands``; the page redraws
from ``document.changed`` like the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSettings,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from launchdesk.models import Phase, Role, utcnow
from launchdesk.planning.checklists import (
    MOMENT_ORDER,
    OTHER,
    ROLE_LABELS,
    DueItem,
    OffsetError,
    Urgency,
    checklist_csv,
    checklist_ics,
    describe_offset,
    due_at,
    format_offset,
    load_items,
    parse_offset,
    reorder,
    team_zone,
    upcoming,
)
from launchdesk.planning.schedule import when_text
from launchdesk.views.checklist_commands import AddItem, DeleteItem, EditItem, ReorderItems, TickItem
from launchdesk.views.document import WorkspaceDocument
from launchdesk.views.pages import RolloutPage
from launchdesk.views.settings_dialog import my_role, role_text, set_my_role

EXPORT_DAYS = 7
OVERDUE_COLOR, OVERDUE_BACKGROUND = "#b3261e", "#fbe9e7"
SOON_COLOR, SOON_BACKGROUND = "#7a5a00", "#fff4d1"
DONE_COLOR = "#6b6b6b"
COLUMNS = ("Item", "Role", "Due", "When", "Status")
ITEM_ID_ROLE = Qt.ItemDataRole.UserRole + 1


# --- the tree ------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Node:
    """A row of the tree: a phase, a moment of a phase, or an item."""

    key: tuple[Any, ...]
    title: str
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    item: DueItem | None = None
    role: str = ""
    due: str = ""
    when: str = ""
    status: str = ""
    urgency: Urgency | None = None

    @property
    def row(self) -> int:
        siblings = self.parent.children if self.parent else []
        return next(i for i, n in enumerate(siblings) if n is self)


def build_tree(items: list[DueItem], zone: ZoneInfo, now: dt.datetime) -> list[Node]:
    """Phase → moment (48 h before, 24 h before, day of, 24 h after, other) → item, in plan order."""
    roots: list[Node] = []
    by_phase: dict[int, list[DueItem]] = {}
    for item in items:
        by_phase.setdefault(item.phase_id, []).append(item)
    for phase_items in by_phase.values():
        first = phase_items[0]
        phase = Node(("phase", first.phase_id), first.phase_name, due=f"starts {when_text(first.phase_start, zone)}")
        _summarise(phase, phase_items, now)
        for moment in MOMENT_ORDER:
            moment_items = [i for i in phase_items if i.moment == moment]
            if not moment_items:
                continue
            group = Node(("moment", first.phase_id, moment.key), moment.label, parent=phase)
            if moment is not OTHER:
                assert moment.offset_minutes is not None
                group.due = when_text(due_at(first.phase_start, moment.offset_minutes, zone), zone)
            _summarise(group, moment_items, now)
            group.children = [_item_node(i, group, zone, now) for i in moment_items]
            phase.children.append(group)
        roots.append(phase)
    return roots


def _item_node(item: DueItem, parent: Node, zone: ZoneInfo, now: dt.datetime) -> Node:
    return Node(("item", item.id), item.title, parent=parent, item=item, role=ROLE_LABELS[item.role],
                due=when_text(item.due, zone), when=describe_offset(item.offset_minutes),
                status=item.status_text(now, zone), urgency=item.urgency(now))


def _summarise(node: Node, items: list[DueItem], now: dt.datetime) -> None:
    states = [i.urgency(now) for i in items]
    overdue, soon = states.count(Urgency.OVERDUE), states.count(Urgency.DUE_SOON)
    parts = [f"{states.count(Urgency.DONE)} of {len(items)} done"]
    if overdue:
        parts.append(f"{overdue} overdue")
    if soon:
        parts.append(f"{soon} due within 24 h")
    node.status = " · ".join(parts)
    node.urgency = Urgency.OVERDUE if overdue else Urgency.DUE_SOON if soon else None


def _walk(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        out.append(node)
        out.extend(_walk(node.children))
    return out


class ChecklistModel(QAbstractItemModel):
    """The tree of phases, moments and items; a tick goes to ``on_tick`` (which pushes an undo command)."""

    def __init__(self, on_tick: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.roots: list[Node] = []
        self.zone_name = "UTC"  # shown in the Due column's title
        self._on_tick = on_tick

    def set_tree(self, roots: list[Node]) -> bool:
        """Show a new tree; the same rows as before are updated in place (selection and expansion survive).
        Returns True when the rows were replaced."""
        old, new = _walk(self.roots), _walk(roots)
        if old and [n.key for n in old] == [n.key for n in new]:
            # One layout change for the whole tree: a dataChanged per group makes views and the filter redo
            # their work a hundred times.
            self.layoutAboutToBeChanged.emit()
            for before, after in zip(old, new, strict=True):
                for name in ("title", "item", "role", "due", "when", "status", "urgency"):
                    setattr(before, name, getattr(after, name))
            self.layoutChanged.emit()
            return False
        self.beginResetModel()
        self.roots = roots
        self.endResetModel()
        return True

    def node(self, index: QModelIndex | QPersistentModelIndex) -> Node | None:
        return index.internalPointer() if index.isValid() else None  # type: ignore[return-value]

    def index_of(self, key: tuple[Any, ...]) -> QModelIndex:
        for node in _walk(self.roots):
            if node.key == key:
                return self.createIndex(node.row if node.parent else self.roots.index(node), 0, node)
        return QModelIndex()

    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:
        siblings = self.node(parent).children if parent.isValid() else self.roots  # type: ignore[union-attr]
        if not (0 <= row < len(siblings) and 0 <= column < len(COLUMNS)):
            return QModelIndex()
        return self.createIndex(row, column, siblings[row])

    def parent(self, index: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        node = self.node(index)
        if node is None or node.parent is None:
            return QModelIndex()
        up = node.parent
        return self.createIndex(up.row if up.parent else self.roots.index(up), 0, up)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        if parent.column() > 0:
            return 0
        return len(self.node(parent).children) if parent.isValid() else len(self.roots)  # type: ignore[union-attr]

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return f"Due ({self.zone_name})" if COLUMNS[section] == "Due" else COLUMNS[section]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        node = self.node(index)
        if node is None:
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if node.item is not None and index.column() == 0:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        node = self.node(index)
        if node is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (node.title, node.role, node.due, node.when, node.status)[column]
        if role == Qt.ItemDataRole.CheckStateRole and column == 0 and node.item is not None:
            return Qt.CheckState.Checked if node.item.done else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            if node.item is not None:
                return "\n\n".join(t for t in (node.item.title, node.item.notes, node.status) if t)
            return node.status or node.title
        if role == ITEM_ID_ROLE:
            return node.item.id if node.item else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if node.urgency == Urgency.OVERDUE:
                return QColor(OVERDUE_COLOR)
            if node.urgency == Urgency.DUE_SOON:
                return QColor(SOON_COLOR)
            if node.urgency == Urgency.DONE:
                return QColor(DONE_COLOR)
        if role == Qt.ItemDataRole.BackgroundRole and node.item is not None:
            if node.urgency == Urgency.OVERDUE:
                return QColor(OVERDUE_BACKGROUND)
            if node.urgency == Urgency.DUE_SOON:
                return QColor(SOON_BACKGROUND)
        if role == Qt.ItemDataRole.FontRole:
            emphasis = node.item is None and column == 0 or node.urgency in (Urgency.OVERDUE, Urgency.DUE_SOON) \
                and column == 4
            if emphasis:
                font = QFont()
                font.setBold(True)
                return font
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        node = self.node(index)
        if role != Qt.ItemDataRole.CheckStateRole or node is None or node.item is None:
            return False
        checked = value in (Qt.CheckState.Checked, Qt.CheckState.Checked.value)
        if checked == node.item.done:
            return False
        return bool(self._on_tick(node.item.id, checked))


class ChecklistFilter(QSortFilterProxyModel):
    """The search box: keeps the items whose title or notes hold the text, with their phase and moment."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)
        self.setAutoAcceptChildRows(True)  # a matching phase shows all its items
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterRole(Qt.ItemDataRole.ToolTipRole)  # title and notes


# --- the item dialog -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseChoice:
    id: int
    name: str
    start: dt.datetime


class ChecklistItemDialog(QDialog):
    """Add or edit one item: phase, role, when (typed naturally, with its due time shown), title, notes."""

    def __init__(self, phases: list[PhaseChoice], zone: ZoneInfo, *, item: DueItem | None = None,
                 phase_id: int | None = None, role: Role | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit checklist item" if item else "Add a checklist item")
        self.zone = zone
        self.phases = phases
        self.phase = QComboBox()
        for phase in phases:
            self.phase.addItem(phase.name, phase.id)
        chosen = item.phase_id if item else phase_id
        if chosen is not None and self.phase.findData(chosen) >= 0:
            self.phase.setCurrentIndex(self.phase.findData(chosen))
        self.role = QComboBox()
        for r in Role:
            self.role.addItem(ROLE_LABELS[r], r.value)  # the value: Qt hands a str subclass back as str
        self.role.setCurrentIndex(list(Role).index(item.role if item else role or Role.PMM))
        self.when = QLineEdit(format_offset(item.offset_minutes) if item else "-24h")
        self.when.setPlaceholderText("-48h, +1d, day of, 24h before, -2d 4h, +90m")
        self.when_preview = QLabel()
        self.when_preview.setWordWrap(True)
        self.title = QLineEdit(item.title if item else "")
        self.title.setPlaceholderText("What must be done")
        self.notes = QPlainTextEdit(item.notes if item else "")
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(self.notes.fontMetrics().lineSpacing() * 4 + 12)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Phase", self.phase)
        form.addRow("Role", self.role)
        form.addRow("Due", self.when)
        form.addRow("", self.when_preview)
        form.addRow("Title", self.title)
        form.addRow("Notes", self.notes)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.resize(520, self.sizeHint().height())
        for signal in (self.when.textChanged, self.title.textChanged, self.phase.currentIndexChanged):
            signal.connect(self._check)
        self._check()

    def offset(self) -> int | None:
        try:
            return parse_offset(self.when.text())
        except OffsetError:
            return None

    def _check(self) -> None:
        try:
            offset = parse_offset(self.when.text())
        except OffsetError as exc:
            self.when_preview.setText(str(exc))
            self.when_preview.setStyleSheet(f"color: {OVERDUE_COLOR}")
            offset = None
        else:
            phase = self.phases[self.phase.currentIndex()] if self.phases else None
            due = f": {when_text(due_at(phase.start, offset, self.zone), self.zone)} ({self.zone.key})" if phase else ""
            relation = "at the phase start" if offset == 0 else f"{describe_offset(offset)} the phase start"
            self.when_preview.setText(f"{relation}{due}")
            self.when_preview.setStyleSheet("")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(offset is not None and bool(self.title.text().strip()) and bool(self.phases))

    def values(self) -> dict[str, Any]:
        offset = self.offset()
        assert offset is not None
        return {"phase_id": self.phase.currentData(), "role": Role(self.role.currentData()), "offset_minutes": offset,
                "title": self.title.text().strip(), "notes": self.notes.toPlainText().strip()}


# --- the page ------------------------------------------------------------------------------------------------


class ChecklistPage(RolloutPage):
    reload_on = frozenset({"phase", "checklist_item", "setting", "rollout"})
    exported = Signal(str)  # a line saying what was written where

    def __init__(self, document: WorkspaceDocument, parent: QWidget | None = None) -> None:
        super().__init__(document, parent)
        self.clock = utcnow
        self.zone = ZoneInfo("UTC")
        self.items: list[DueItem] = []
        self.phases: list[PhaseChoice] = []
        self._settings: QSettings | None = None
        self._user_expanded: dict[tuple[Any, ...], bool] = {}  # groups the user opened or closed by hand
        self._expanding = False
        self.item_dialog: ChecklistItemDialog | None = None

        self.role_filter = QComboBox()
        self.role_filter.addItem(role_text(None), "all")
        for role in Role:
            self.role_filter.addItem(role_text(role), role.value)
        self.role_filter.setToolTip("My role: remembered the next time LaunchDesk starts")
        self.role_filter.currentIndexChanged.connect(self._role_chosen)
        self.hide_done = QCheckBox("Hide done")
        self.hide_done.toggled.connect(lambda _on: self._rebuild())
        self.search = QLineEdit()
        self.search.setPlaceholderText("Find an item…")
        self.search.setClearButtonEnabled(True)
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.RichText)

        self.model = ChecklistModel(self._tick, self)
        self.proxy = ChecklistFilter(self)
        self.proxy.setSourceModel(self.model)
        self.search.textChanged.connect(self._search)
        self.view = QTreeView()
        self.view.setModel(self.proxy)
        self.view.setAlternatingRowColors(True)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.doubleClicked.connect(lambda index: self._node_at(index) and self.edit_item())
        self.view.collapsed.connect(lambda index: self._remember_expanded(index, False))
        self.view.expanded.connect(lambda index: self._remember_expanded(index, True))
        self.view.selectionModel().currentChanged.connect(lambda _c, _p: self._update_buttons())
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

        self.add_action = self._action("&Add item…", self.add_item, QKeySequence("Ctrl+Shift+N"))
        self.edit_action = self._action("&Edit…", self.edit_item, QKeySequence("F2"))
        self.up_action = self._action("Move &up", lambda: self.move_item(-1), QKeySequence("Ctrl+Up"))
        self.down_action = self._action("Move &down", lambda: self.move_item(1), QKeySequence("Ctrl+Down"))
        self.delete_action = self._action("&Delete", self.delete_item, QKeySequence(QKeySequence.StandardKey.Delete))
        self.export_csv_action = QAction(self)
        self.export_csv_action.triggered.connect(lambda: self.export_dialog("csv"))
        self.export_ics_action = QAction(self)
        self.export_ics_action.triggered.connect(lambda: self.export_dialog("ics"))
        export_menu = QMenu(self)
        export_menu.addAction(self.export_csv_action)
        export_menu.addAction(self.export_ics_action)
        self.export_button = QPushButton("Export next 7 days")
        self.export_button.setMenu(export_menu)

        filters = QHBoxLayout()
        filters.addWidget(QLabel("My role:"))
        filters.addWidget(self.role_filter)
        filters.addWidget(self.hide_done)
        filters.addWidget(self.search, 1)
        filters.addWidget(self.export_button)
        buttons = QHBoxLayout()
        for action in (self.add_action, self.edit_action, self.up_action, self.down_action, self.delete_action):
            button = QPushButton(action.text().replace("&", ""))
            button.setToolTip(f"{action.text().replace('&', '')} ({action.shortcut().toString()})")
            button.clicked.connect(action.trigger)
            action.changed.connect(lambda b=button, a=action: b.setEnabled(a.isEnabled()))
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.summary)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)

        # Statuses ("due in 3 h") age while the window is open.
        self._minute = QTimer(self)
        self._minute.setInterval(60_000)
        self._minute.timeout.connect(lambda: self.isVisible() and self._rebuild())
        self._minute.start()
        self._update_role_texts()
        self._update_buttons()

    def _action(self, text: str, slot: Any, shortcut: QKeySequence) -> QAction:
        action = QAction(text, self)
        action.setShortcut(shortcut)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    # --- my role ---------------------------------------------------------------------------------------------
    def use_settings(self, settings: QSettings) -> None:
        """Remember "my role" in these settings, starting from the one remembered there."""
        self._settings = settings
        self.set_role(my_role(settings))

    def role(self) -> Role | None:
        value = self.role_filter.currentData()
        return None if value == "all" else Role(value)

    def set_role(self, role: Role | None) -> None:
        self.role_filter.setCurrentIndex(self.role_filter.findData(role.value if role else "all"))

    def _role_chosen(self, _index: int) -> None:
        if self._settings is not None:
            set_my_role(self._settings, self.role())
        self._update_role_texts()
        self.view.setColumnHidden(1, self.role() is not None)  # one role shown: its name on each row says nothing
        self._rebuild()

    def _update_role_texts(self) -> None:
        who = role_text(self.role()).lower() if self.role() else "every role"
        self.export_csv_action.setText(f"Next {EXPORT_DAYS} days of {who}, all rollouts, as CSV…")
        self.export_ics_action.setText(f"Next {EXPORT_DAYS} days of {who}, all rollouts, as a calendar (.ics)…")

    # --- loading ---------------------------------------------------------------------------------------------
    def reload(self) -> None:
        self.items, self.phases = [], []
        workspace = self.document.workspace
        if workspace is not None and self.rollout_id is not None:
            with workspace.session() as session:
                self.zone = team_zone(session)
                self.items = load_items(session, self.zone, rollout_id=self.rollout_id)
                self.phases = [
                    PhaseChoice(row.id, row.name, row.planned_start)
                    for row in session.execute(select(Phase.id, Phase.name, Phase.planned_start)
                                               .where(Phase.rollout_id == self.rollout_id)
                                               .order_by(Phase.position, Phase.id))
                ]
        if self.model.zone_name != self.zone.key:
            self.model.zone_name = self.zone.key
            self.model.headerDataChanged.emit(Qt.Orientation.Horizontal, 2, 2)
        self._rebuild()

    def shown_items(self) -> list[DueItem]:
        """The items the filters let through (before the search box)."""
        role = self.role()
        return [i for i in self.items
                if (role is None or i.role == role) and not (self.hide_done.isChecked() and i.done)]

    def _rebuild(self) -> None:
        now = self.clock()
        current = self.current_item()
        items = self.shown_items()
        replaced = self.model.set_tree(build_tree(items, self.zone, now))
        if replaced:
            self._expand()
            for column in range(1, len(COLUMNS)):
                self.view.resizeColumnToContents(column)
        if current is not None:
            self.select_item(current.id)
        self._summarise(items, now)
        self._update_buttons()

    def _remember_expanded(self, index: QModelIndex, expanded: bool) -> None:
        if not self._expanding:
            self._user_expanded[self._key_at(index)] = expanded

    def _expand(self) -> None:
        """Open the groups with something left to do (finished phases stay closed unless opened by hand) and
        scroll to the first of them."""
        self._expanding = True
        first_open: QModelIndex | None = None
        for node in _walk(self.model.roots):
            if not node.children:
                continue
            index = self.proxy.mapFromSource(self.model.index_of(node.key))
            unfinished = any(n.item is not None and not n.item.done for n in _walk(node.children))
            if node.parent is None and unfinished and first_open is None:
                first_open = index
            self.view.setExpanded(index, self._user_expanded.get(node.key, unfinished or node.parent is not None))
        self._expanding = False
        if first_open is not None and self.proxy.filterRegularExpression().pattern() == "":
            self.view.scrollTo(first_open, QAbstractItemView.ScrollHint.PositionAtTop)

    def _summarise(self, items: list[DueItem], now: dt.datetime) -> None:
        if self.rollout_id is None:
            self.summary.setText("")
            return
        states = [i.urgency(now) for i in items]
        overdue, soon = states.count(Urgency.OVERDUE), states.count(Urgency.DUE_SOON)
        parts = []
        if overdue:
            parts.append(f'<span style="color:{OVERDUE_COLOR}"><b>{overdue} overdue</b></span>')
        if soon:
            parts.append(f'<span style="color:{SOON_COLOR}"><b>{soon} due within 24 h</b></span>')
        parts.append(f"{states.count(Urgency.DONE)} of {len(items)} done")
        self.summary.setText(" · ".join(parts))

    def _search(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self._expand()

    # --- selection -------------------------------------------------------------------------------------------
    def _node_at(self, index: QModelIndex) -> Node | None:
        return self.model.node(self.proxy.mapToSource(index))

    def _key_at(self, index: QModelIndex) -> tuple[Any, ...]:
        node = self._node_at(index)
        return node.key if node else ()

    def current_item(self) -> DueItem | None:
        node = self._node_at(self.view.currentIndex())
        return node.item if node else None

    def select_item(self, item_id: int) -> bool:
        index = self.proxy.mapFromSource(self.model.index_of(("item", item_id)))
        if not index.isValid():
            return False
        self.view.setCurrentIndex(index)
        return True

    def show_items(self, item_ids: Sequence[int]) -> bool:
        """Select the first of these items (a timeline marker's) and scroll to it. When the filters hide them all,
        clear the search, then "Hide done", then show every role (this once: "my role" stays remembered)."""
        self.load_now()

        def select() -> bool:
            for item_id in item_ids:
                if self.select_item(item_id):
                    self.view.scrollTo(self.view.currentIndex())  # opens its groups too
                    self.view.setFocus()
                    return True
            return False

        for widen in (self.search.clear, lambda: self.hide_done.setChecked(False), self._show_every_role):
            if select():
                return True
            widen()
        return select()

    def _show_every_role(self) -> None:
        settings, self._settings = self._settings, None  # not remembered: the user asked for one item, not a role
        try:
            self.set_role(None)
        finally:
            self._settings = settings

    def _update_buttons(self) -> None:
        item = self.current_item()
        self.add_action.setEnabled(bool(self.phases))
        self.edit_action.setEnabled(item is not None)
        self.delete_action.setEnabled(item is not None)
        self.up_action.setEnabled(item is not None and self._neighbour(item, -1) is not None)
        self.down_action.setEnabled(item is not None and self._neighbour(item, 1) is not None)

    def _current_phase_id(self) -> int | None:
        node = self._node_at(self.view.currentIndex())
        while node is not None and node.parent is not None:
            node = node.parent
        return node.key[1] if node is not None else None

    # --- edits -----------------------------------------------------------------------------------------------
    def _push(self, make: Any) -> Any:
        """Make and push an undo command; the command when it was saved, else None (the user was told why)."""
        return self.document.push(make)

    def _tick(self, item_id: int, done: bool) -> bool:
        return self._push(lambda: TickItem(self.document, item_id, done)) is not None

    def add_item(self) -> ChecklistItemDialog:
        """Open the dialog for a new item (in the selected phase, for my role); OK adds it as one undo step."""
        dialog = ChecklistItemDialog(self.phases, self.zone, phase_id=self._current_phase_id(),
                                     role=self.role() or Role.PMM, parent=self)
        dialog.accepted.connect(lambda: self._added(dialog.values()))
        return self._open(dialog)

    def _added(self, values: dict[str, Any]) -> None:
        phase_id = values.pop("phase_id")
        command = self._push(lambda: AddItem(self.document, phase_id, **values))
        if command is not None:
            self.select_item(command.row_id)

    def edit_item(self) -> ChecklistItemDialog | None:
        item = self.current_item()
        if item is None:
            return None
        dialog = ChecklistItemDialog(self.phases, self.zone, item=item, parent=self)
        dialog.accepted.connect(lambda: self._edited(item, dialog.values()))
        return self._open(dialog)

    def _edited(self, item: DueItem, values: dict[str, Any]) -> None:
        changes = {f: v for f, v in values.items() if getattr(item, f) != v}
        if changes:
            self._push(lambda: EditItem(self.document, item.id, changes))

    def _open(self, dialog: ChecklistItemDialog) -> ChecklistItemDialog:
        self.item_dialog = dialog
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def _siblings(self, item: DueItem) -> list[DueItem]:
        """The items of the same phase due at the same offset, every role: the ones a move reorders."""
        return [i for i in self.items if i.phase_id == item.phase_id and i.offset_minutes == item.offset_minutes]

    def _neighbour(self, item: DueItem, step: int) -> DueItem | None:
        shown = {i.id for i in self.shown_items()}
        visible = [i for i in self._siblings(item) if i.id in shown]
        at = next(n for n, i in enumerate(visible) if i.id == item.id)
        return visible[at + step] if 0 <= at + step < len(visible) else None

    def move_item(self, step: int) -> bool:
        """Move the selected item one place up (-1) or down (+1) among the items shown beside it."""
        item = self.current_item()
        target = self._neighbour(item, step) if item else None
        if item is None or target is None:
            return False
        siblings = self._siblings(item)
        to_index = next(n for n, i in enumerate(siblings) if i.id == target.id)
        positions = reorder([(i.id, i.position) for i in siblings], item.id, to_index)
        return self._push(lambda: ReorderItems(self.document, item.id, positions)) is not None

    def delete_item(self) -> bool:
        item = self.current_item()
        return item is not None and self._push(lambda: DeleteItem(self.document, item.id)) is not None

    # --- export ----------------------------------------------------------------------------------------------
    def export_dialog(self, kind: str) -> None:
        from PySide6.QtWidgets import QFileDialog

        who = self.role().value if self.role() else "all-roles"
        suggested = Path.home() / f"{who}-checklist-{self.clock().astimezone(self.zone):%Y-%m-%d}.{kind}"
        file_filter = "CSV files (*.csv)" if kind == "csv" else "Calendar files (*.ics)"
        path, _filter = QFileDialog.getSaveFileName(self, "Export the next 7 days", str(suggested), file_filter)
        if path:
            self.export(kind, Path(path))

    def export(self, kind: str, path: Path) -> int:
        """Write the next seven days of the chosen role (every rollout) as CSV or .ics; returns the item count."""
        workspace = self.document.workspace
        if workspace is None:
            return 0
        role, now = self.role(), self.clock()
        with workspace.session() as session:
            zone = team_zone(session)
            items = upcoming(load_items(session, zone, role=role), now, EXPORT_DAYS)
        if kind == "csv":
            path.write_text(checklist_csv(items, zone, now), encoding="utf-8", newline="")
        else:
            name = f"LaunchDesk: {role_text(role)} checklist"
            path.write_bytes(checklist_ics(items, now, calendar_name=name).encode("utf-8"))
        self.exported.emit(f"Exported {len(items)} checklist items to {path}")
        return len(items)
