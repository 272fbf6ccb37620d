"""One module per ``fleet`` subcommand; shared plumbing in ``fleet.commands.common``."""
