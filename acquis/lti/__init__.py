"""The LTI 1.3 tool: Moodle (or any LTI 1.3 platform) launches acquis through it.

Built on PyLTI1p3 (the maintained ``pylti1p3next`` distribution): configuration, keys and launch
state come from the database so that any web process can serve any step of a launch.
"""
