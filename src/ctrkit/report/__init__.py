"""Reports of finished runs: plots and a self-contained HTML page."""
from .html import write_report

__all__ = ["write_report"]
