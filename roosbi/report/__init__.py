"""Reporting: results.json, report.md and figures."""

from .results import markdown_report, results_dict, write_json

__all__ = ["markdown_report", "results_dict", "write_json"]
