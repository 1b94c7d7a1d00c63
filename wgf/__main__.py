"""``python -m wgf`` and the ``wgf`` command.

The entry point imports the command line inside a ``try``: an interrupt while Python loads it
(the first few tenths of a second) exits 130 with one line, like an interrupt later on.
"""

import sys


def main() -> int:
    """Run the ``wgf`` command line (``wgf.cli.main``) on ``sys.argv``."""
    try:
        from wgf.cli import main as command_line
    except KeyboardInterrupt:
        print("wgf: error: interrupted before any result was written", file=sys.stderr)
        return 130
    return command_line()


if __name__ == "__main__":
    sys.exit(main())
