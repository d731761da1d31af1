"""Small templates that tests in more than one folder run."""

REVIEW_FLOW = """
id: review
version: 1
roles: [QE]
steps:
  - {id: check, kind: approval, roles: [QE]}
  - {id: done, kind: end, outcome: closed}
"""
"""The smallest run that assigns a task, and so sends andon.task.assigned out."""
