"""``python -m kmsg``: the same as the ``kmsg`` command."""

from kmsg.cli import main

if __name__ == "__main__":
    main()
