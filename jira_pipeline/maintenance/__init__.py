"""The maintenance family, as plain functions the schedules, the sensors and the
``jira-pipeline`` commands call: reconcile (missed webhooks), deletion sweep, SLA poll
(clocks of open tickets, stale statuses healed) and webhook retention."""
