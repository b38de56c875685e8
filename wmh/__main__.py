"""`python -m wmh` runs the CLI."""

from wmh.cli.app import main

main()
