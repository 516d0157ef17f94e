"""Pégase adapter: learners, formations and published results from the French SIS Pégase."""
