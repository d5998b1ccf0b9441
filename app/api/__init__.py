"""The JSON status API for users and admins."""
