"""The upload side: Bottle app, auth, upload handling and the in-process scheduler."""
