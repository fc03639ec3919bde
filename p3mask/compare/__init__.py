"""Chameleon against Fawkes, LowKey and OPOM under the same image-quality budget (``p3mask compare``)."""

from p3mask.compare.config import METHOD_ORDER, CompareConfig
from p3mask.compare.report import TABLE_KEYS, markdown, summary, table_rows, write_report
from p3mask.compare.runner import run_compare

__all__ = ["METHOD_ORDER", "TABLE_KEYS", "CompareConfig", "markdown", "run_compare", "summary", "table_rows",
           "write_report"]
