"""Side-by-side benchmarks of django-async-redis and its peers.

Run ``python3 -m benchmarks`` from the repository root; docs/benchmarks.md
says what it measures and how. Not part of the test run.

This package must stay importable without Django or any peer installed: the
entry point bootstraps its own virtualenv before anything else is imported.
"""
