"""Tutoring: the feedback engine (grades predictions, publishes ``feedback`` events) and the learner progress store.

``chars`` (tips and confusion hints for the 62 characters), ``grading`` (pure rules), ``store`` (SQLAlchemy 2,
Alembic migrations in ``migrations/``), ``engine`` (the bus consumer). The chat front ends live in ``chatbots/``.
"""
