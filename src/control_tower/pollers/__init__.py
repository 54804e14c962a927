"""Pull sources: HTTP checks and the GitHub Actions poller, run on the scheduler."""
