"""Cohort communication: templating, audiences, approval, the send guards, the outbox and senders. No Qt.

Importing any part of the package registers the approval rule (an edit after approval returns a message to
draft), so code that edits messages imports ``launchdesk.comms`` first.
"""

from launchdesk.comms import approval as _approval  # noqa: F401  (registers the edit listener)
