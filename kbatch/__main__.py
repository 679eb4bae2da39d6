"""``python -m kbatch``: the same as the ``kbatch`` command."""

from kbatch.cli import main

main()
