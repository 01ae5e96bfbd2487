"""Mutation check: plant known bugs one at a time and make sure the tests catch each.

Run ``python -m tests.mutations`` (``--ci`` for the subset CI runs, ``--only NAME`` for one,
``--list`` to see them, ``--jobs N`` for parallel runs). The bugs are listed in
:mod:`tests.mutations.catalog`, each a one-place search/replace in the Lua scripts, the SQL, the
rules, the worker, the codec or the messaging domain, with the tests that must catch it.

The checkout is never touched: ``kmsg/``, ``tests/`` and ``pyproject.toml`` are copied into a
temporary folder (one copy per parallel job), each bug is planted in a copy, and pytest runs
there with ``PYTHONPATH`` pointing at the copy. Each selection first runs once without a bug
(it must pass, or a "caught" would mean nothing). The check fails when a bug survives, when a
search text no longer occurs exactly once in kmsg (the catalog must follow a refactor), or when
a run errs instead of failing a test.
"""
