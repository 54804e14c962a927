"""Backups: export every table to compressed JSON Lines with a manifest (fsspec: a folder or
gs://…), verify a backup, restore it into an empty store, keep backups in retention tiers, and
prune events a verified backup holds. docs/backups.md says how, and how to restore at 3 a.m."""
