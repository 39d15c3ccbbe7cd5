"""``python -m cli``: the ``outbound-calls`` command line without its console script."""

from cli.main import console_main

if __name__ == "__main__":
    console_main()
