"""LeadRelay: the lead lifecycle and handoff engine between marketing and sales."""

__version__ = "0.1.0"
