"""Answers for analysts: a ready DuckDB database (views, comments, macros), the analyst
guide's questions and the report charts, all over the Parquet tables."""
