"""Rules about Jira values, with no I/O: issue keys and ids, timestamps and months.
The bottom layer: every other package may import it; it imports nothing of the project."""
