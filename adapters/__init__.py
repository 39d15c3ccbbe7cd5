"""The I/O side of the product: Retell, Temporal, settings, payload codec and keys, logging,
stores, files. calls/ holds the pure domain these serve."""
