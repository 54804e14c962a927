"""Reports: the daily digest of a local calendar day, the weekly trend of an ISO week, and their
write-once archive (docs/reports.md). Both read rollups the router keeps (`rollups.py`) and
indexed ranges of the few rows they list, never a day's payloads."""
