"""Pure governance policy: the audit chain (more arrives with the Governance issue)."""
