"""Allow `python -m epicity`."""

from epicity.cli import main

main()
