"""The command-line interface: thin commands over the engine, human and JSON output."""
