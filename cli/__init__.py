"""The ``outbound-calls`` command line's parts: errors and exit codes, connection, output,
and the call-level steps its commands share (the commands live in ``outbound_calls.py``)."""
