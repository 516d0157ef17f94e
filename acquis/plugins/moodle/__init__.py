"""The Moodle web services adapter: catch-up sync, activity–competency tags, rating write-back."""
