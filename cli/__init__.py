"""The ``outbound-calls`` command line: the root and entry point (``main.py``), a module per
command group, and the parts they share: errors and exit codes, connection, output, and the
call and campaign steps."""
