"""Process-mining export of run journals: OCEL 2.0 JSON and XES, written by Andon itself.

pm4py (AGPL) only reads these files back in a CI test group; see ADR 0017.
"""

from andon.export.ocel import write_ocel
from andon.export.process import Written
from andon.export.source import Scope, scope_for
from andon.export.xes import write_xes

__all__ = ["Scope", "Written", "scope_for", "write_ocel", "write_xes"]
