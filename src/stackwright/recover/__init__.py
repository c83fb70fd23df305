"""Backup and disaster recovery: restic repositories, backup policies, restores and drills."""
