#!/bin/bash
# Users, groups, folders, modes, env files and units of a one-machine install
# (docs/deploy.md, section 1). Run as root from the checkout in /opt/jira-pipeline; safe to
# run again (it creates what is missing and resets owners and modes, never settings).
#   DRY_RUN=1 deploy/systemd/install.sh   prints the commands instead of running them
#
# Who is who (docs/deploy.md, "Threat model"):
#   jira           runs Dagster (daemon, webserver, runs); owns the data root
#   jira-receiver  runs the webhook receiver; primary group jira, to write the inbox
#   jira           (group) the two service users and nobody else
#   jira-readers   analysts: read the published Parquet copy (JIRA_DIST_DIR) and nothing else
set -euo pipefail

APP=/opt/jira-pipeline
STATE=/var/lib/jira-pipeline
ETC=/etc/jira-pipeline
DATA="$STATE/data"
DIST="$STATE/dist"
DAGSTER_HOME="$STATE/dagster_home"

run() {
    if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "$@"; printf '\n'; else "$@"; fi
}
# In a dry run nothing exists yet, so every creation step is shown
missing() { [[ -n "${DRY_RUN:-}" ]] || ! getent "$1" "$2" >/dev/null; }
absent() { [[ -n "${DRY_RUN:-}" ]] || [[ ! -e "$1" ]]; }

# Users and groups
missing group jira && run groupadd --system jira
missing group jira-readers && run groupadd --system jira-readers
missing passwd jira && run useradd --system --gid jira --home-dir "$STATE" --no-create-home \
    --shell /usr/sbin/nologin jira
missing passwd jira-receiver && run useradd --system --gid jira --home-dir /nonexistent \
    --no-create-home --shell /usr/sbin/nologin jira-receiver

# The code runs as the service users: only root may change it
run chmod -R go-w "$APP"

# State. The data root is the services' alone; the receiver's folders are made here,
# group-writable, because Dagster's umask (0027) would make them read-only for the receiver.
run install -d -o root -g root -m 0755 "$STATE"
run install -d -o jira -g jira -m 2770 "$DATA"
for folder in raw raw/jira raw/jira/inbox raw/jira/webhook_events raw/jira/state \
    raw/jira/state/webhook_ids; do
    run install -d -o jira -g jira -m 2770 "$DATA/$folder"
done
# The published copy: setgid, so every table folder and file below takes the readers group
run install -d -o jira -g jira-readers -m 2750 "$DIST"

# Dagster's instance: dagster.yaml names the run launcher, i.e. what code runs as jira, so
# only root may change it; Dagster writes its SQLite storage and logs into the subfolders.
run install -d -o root -g jira -m 0750 "$DAGSTER_HOME"
for folder in history schedules storage logs .logs_queue; do
    run install -d -o jira -g jira -m 0750 "$DAGSTER_HOME/$folder"
done
absent "$DAGSTER_HOME/dagster.yaml" && \
    run install -o root -g jira -m 0640 "$APP/.dagster_home/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
run chown root:jira "$DAGSTER_HOME/dagster.yaml"
run chmod 0640 "$DAGSTER_HOME/dagster.yaml"

# Settings: one file per unit, read by systemd (as root) and handed to that unit only
run install -d -o root -g root -m 0700 "$ETC"
absent "$ETC/env" && \
    run install -o root -g root -m 0600 "$APP/deploy/systemd/jira-pipeline.env.example" "$ETC/env"
absent "$ETC/receiver.env" && \
    run install -o root -g root -m 0600 "$APP/deploy/systemd/jira-receiver.env.example" \
        "$ETC/receiver.env"
for file in "$ETC/env" "$ETC/receiver.env"; do
    run chown root:root "$file"
    run chmod 0600 "$file"
done

# Units (enable them once the env files are filled in: docs/deploy.md, step 5)
run install -o root -g root -m 0644 -t /etc/systemd/system \
    "$APP/deploy/systemd/jira-receiver.service" \
    "$APP/deploy/systemd/dagster-daemon.service" \
    "$APP/deploy/systemd/dagster-webserver.service"
run systemctl daemon-reload
