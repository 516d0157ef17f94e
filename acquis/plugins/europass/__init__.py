"""European Digital Credentials (European Learning Model v3) of what a student chose to export."""
