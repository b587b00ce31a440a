"""Everything that speaks Jira: issue-key rules, dates, REST v3 and JSM clients, ADF."""
