"""The `wmh` command line: thin typer commands over the library."""
