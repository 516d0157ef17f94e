"""acquis: LMS activity → recognised competencies → Open Badges, carried where they are needed."""

__version__ = "0.1.0"
