"""``python -m kbatch``: the same as the ``kbatch`` command."""

from kbatch.cli.app import main

main()
