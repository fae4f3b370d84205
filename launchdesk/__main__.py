"""``python -m launchdesk``: the window, or a command-line command when the first argument names one."""

import sys


def main() -> int:
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        from launchdesk import cli  # only argparse at module level: cheap enough to ask for its command names

        if args[0] in cli.command_names():
            return cli.main(args)
    from launchdesk.app import main as run_window  # Qt is imported only when the window is wanted

    return run_window() or 0


if __name__ == "__main__":
    sys.exit(main())
