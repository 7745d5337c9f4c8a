"""Operator tools: dead letters (``raqib dlq``) and re-tagging history (``raqib retag``)."""
