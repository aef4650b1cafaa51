"""The command groups of the `digest` CLI (press list, mailings and items, staff) and what
every command shares; digest/cli.py holds the main group and the top-level commands."""
