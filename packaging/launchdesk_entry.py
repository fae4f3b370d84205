"""Entry point of the packaged application: the window, or a command-line command (as ``python -m launchdesk``)."""

import sys

from launchdesk.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
