"""GitHub: webhook deliveries and the Actions poller's shared mapping."""
