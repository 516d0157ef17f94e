"""Karuta adapter: copies issued badges and validated competencies into students' Karuta portfolios."""
