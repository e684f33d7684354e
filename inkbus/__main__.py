"""``python -m inkbus``: the ``inkbus`` command."""

from inkbus.cli import main

if __name__ == "__main__":
    main(prog_name="inkbus")
