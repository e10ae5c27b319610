"""The shared event log: CloudEvents envelope, outbox, log backends, relay and consumers."""
