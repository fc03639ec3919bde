"""Command-line interface: thin wrappers that build a config and call the library."""
