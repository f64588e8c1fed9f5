"""The ``vlakit`` command line."""
