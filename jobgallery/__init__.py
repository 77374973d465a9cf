"""jobgallery: job-site photo uploads and static galleries for one small box."""

__version__ = "0.1.0"
