"""The tamper-evident audit log: an append-only hash chain."""
