"""The one launcher of the product's processes, for ``make run`` (devstack.py), the tests and
the benchmarks: the Temporal dev server, the Retell simulator, the bridge, the worker and the
codec server, each a real OS process on loopback (:mod:`stack.processes`) as one
:class:`stack.config.StackConfig` describes, with what starting and driving them needs (free
ports, the server binaries, bounded waits, the simulator's admin client, placing a call)."""
