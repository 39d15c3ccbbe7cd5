"""The codec server: decrypts (and encrypts) payloads for the Temporal UI and CLI.

``python -m codec_server`` serves ``POST /decode`` and ``POST /encode`` in Temporal's
codec-server protocol, with the same payload keys as the workers (``PAYLOAD_KEYS`` or
``PAYLOAD_KEY_FILE``). See :mod:`codec_server.app`.
"""
