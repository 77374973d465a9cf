"""Keeping a box healthy for years: cleanup, recompression, archival, backup."""
