"""Issue state → the JSON Jira Cloud REST v3 returns (issue, changelog, SLA, remote links).

States are URL-free; every URL is built here from the site's base URL, so a state generated
before the server picked its port still renders correctly afterwards."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from jira_pipeline.core.dates import format_jira_datetime
from jira_pipeline.sandbox.simulator import adf
from jira_pipeline.sandbox.simulator.catalog import (
    COMPONENTS,
    FIELD_BY_ID,
    ISSUE_FIELDS,
    ISSUE_TYPES,
    LINK_TYPES,
    ORGANIZATIONS,
    PRIORITIES,
    REQUEST_TYPES,
    RESOLUTIONS,
    STATUS_BY_NAME,
    STATUS_CATEGORIES,
    USERS,
    Project,
)
from jira_pipeline.sandbox.simulator.generate import INLINE_CHANGELOG_CAP, Brief, moment, to_ms

ISSUE_EXPAND = (
    "renderedFields,names,schema,operations,editmeta,changelog,"
    "versionedRepresentations,customfield_10010.requestTypePractice"
)
_AVATAR = "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials/{}.png"


def ts(value: datetime | None) -> str | None:
    return format_jira_datetime(value) if value is not None else None


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def friendly(value: datetime | None) -> str | None:
    """``08/May/21 7:04 AM``, the rendered form (hand-rolled: strftime is slow here)."""
    if value is None:
        return None
    hour = value.hour % 12 or 12
    return (
        f"{value.day:02d}/{_MONTHS[value.month - 1]}/{value.year % 100:02d} "
        f"{hour}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"
    )


def _hours(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


def duration(millis: int) -> dict:
    sign = "-" if millis < 0 else ""
    minutes = abs(millis) // 60_000
    return {"millis": millis, "friendly": f"{sign}{minutes // 60}h {sign}{minutes % 60}m"}


class IssueRenderer:
    """Renders states for one site; links, parent and sub-tasks arrive already resolved.

    Rendered documents share sub-objects (users, ADF bodies) with each other and with the
    states: callers serialise them (``SimulatedJira`` does) rather than hand them out."""

    def __init__(self, base_url: str, projects: tuple[Project, ...]) -> None:
        self._base_url = base_url
        self.projects = projects
        self._users: dict[int, dict] = {}

    @property
    def base_url(self) -> str:
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value
        self._users.clear()

    # --- small shared shapes -----------------------------------------------------------------
    def user(self, index: int | None) -> dict | None:
        if index is None:
            return None
        cached = self._users.get(index)
        if cached is None:
            cached = self._users[index] = self._user(index)
        return cached

    def _user(self, index: int) -> dict:
        u = USERS[index]
        initials = "".join(part[0] for part in u.display_name.split())[:2]
        body = {
            "self": f"{self.base_url}/rest/api/3/user?accountId={u.account_id}",
            "accountId": u.account_id,
        }
        if u.email:
            body["emailAddress"] = u.email
        body.update(
            avatarUrls={
                size: _AVATAR.format(f"{initials}-{index}") + f"?size={size[:2]}"
                for size in ("48x48", "24x24", "16x16", "32x32")
            },
            displayName=u.display_name,
            active=True,
            timeZone=u.time_zone,
            accountType=u.account_type,
        )
        return body

    def status(self, name: str) -> dict:
        s = STATUS_BY_NAME[name]
        category = dict(STATUS_CATEGORIES[s.category])
        category = {
            "self": f"{self.base_url}/rest/api/3/statuscategory/{category['id']}",
            **category,
        }
        return {
            "self": f"{self.base_url}/rest/api/3/status/{s.id}",
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "name": s.name,
            "id": s.id,
            "statusCategory": category,
        }

    def priority(self, name: str) -> dict:
        return {
            "self": f"{self.base_url}/rest/api/3/priority/{PRIORITIES[name]}",
            "iconUrl": f"{self.base_url}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": PRIORITIES[name],
        }

    def issuetype(self, name: str) -> dict:
        type_id, subtask, level, description = ISSUE_TYPES[name]
        return {
            "self": f"{self.base_url}/rest/api/3/issuetype/{type_id}",
            "id": type_id,
            "description": description,
            "iconUrl": f"{self.base_url}/rest/api/2/universal_avatar/view/type/issuetype/"
            f"avatar/10300?size=medium",
            "name": name,
            "subtask": subtask,
            "avatarId": 10300,
            "hierarchyLevel": level,
        }

    def project(self, position: int) -> dict:
        p = self.projects[position]
        return {
            "self": f"{self.base_url}/rest/api/3/project/{p.id}",
            "id": p.id,
            "key": p.key,
            "name": p.name,
            "projectTypeKey": p.type_key,
            "simplified": False,
            "avatarUrls": {
                size: f"{self.base_url}/rest/api/3/universal_avatar/view/type/"
                f"project/avatar/10400?size={size[:2]}"
                for size in ("48x48", "24x24", "16x16", "32x32")
            },
        }

    def issue_ref(self, brief: Brief) -> dict:
        return {
            "id": brief.id,
            "key": brief.key,
            "self": f"{self.base_url}/rest/api/3/issue/{brief.id}",
            "fields": {
                "summary": brief.summary,
                "status": self.status(brief.status),
                "priority": self.priority(brief.priority),
                "issuetype": self.issuetype(brief.issuetype),
            },
        }

    def option(self, field_id: str, position: int) -> dict:
        field = FIELD_BY_ID[field_id]
        option_id = str(field.custom_id * 10 + position)
        return {
            "self": f"{self.base_url}/rest/api/3/customFieldOption/{option_id}",
            "value": field.options[position],
            "id": option_id,
        }

    def attachment(self, att: dict) -> dict:
        body = {
            "self": f"{self.base_url}/rest/api/3/attachment/{att['id']}",
            "id": att["id"],
            "filename": att["filename"],
            "author": self.user(att["author"]),
            "created": ts(att["created"]),
            "size": att["size"],
            "mimeType": att["mimeType"],
            "content": f"{self.base_url}/rest/api/3/attachment/content/{att['id']}",
        }
        if att["mimeType"].startswith("image/"):
            body["thumbnail"] = f"{self.base_url}/rest/api/3/attachment/thumbnail/{att['id']}"
        return body

    def comment(self, state: dict, c: dict) -> dict:
        out = {
            "self": f"{self.base_url}/rest/api/3/issue/{state['id']}/comment/{c['id']}",
            "id": c["id"],
            "author": self.user(c["author"]),
            "body": c["body"],
            "updateAuthor": self.user(c["update_author"]),
            "created": ts(c["created"]),
            "updated": ts(c["updated"]),
            "jsdPublic": c["jsdPublic"],
        }
        if c["visibility"]:
            out["visibility"] = dict(c["visibility"])
        return out

    def history(self, h: dict) -> dict:
        return {
            "id": h["id"],
            "author": self.user(h["author"]),
            "created": ts(h["created"]),
            "items": [dict(item) for item in h["items"]],
        }

    # --- issue ---------------------------------------------------------------------------------
    def issue(
        self,
        state: dict,
        links: list[dict],
        parent: Brief | None,
        subtasks: list[Brief],
        expand: Iterable[str] = (),
        wanted: set[str] | None = None,
        changelog_cap: int = INLINE_CHANGELOG_CAP,
    ) -> dict:
        """``wanted`` None means every field; ``links`` are resolved link entries;
        ``changelog_cap`` is how many history entries the changelog expand shows."""
        expand = set(expand)
        body: dict = {
            "expand": ISSUE_EXPAND,
            "id": state["id"],
            "self": f"{self.base_url}/rest/api/3/issue/{state['id']}",
            "key": state["key"],
        }
        fields: dict = {}
        for field in ISSUE_FIELDS:
            if wanted is not None and field.id not in wanted:
                continue
            if field.id == "parent":
                if parent is not None:
                    fields["parent"] = self.issue_ref(parent)
                continue
            if field.id == "issuelinks":
                fields["issuelinks"] = links
            elif field.id == "subtasks":
                fields["subtasks"] = [self.issue_ref(b) for b in subtasks]
            elif field.custom:
                fields[field.id] = self._custom(state, field.id, field.kind)
            else:
                fields[field.id] = self._system(state, field.id)
        body["fields"] = fields
        if "renderedFields" in expand:
            body["renderedFields"] = self._rendered(state, fields)
        if "names" in expand:
            body["names"] = {f: FIELD_BY_ID[f].name for f in fields}
        if "schema" in expand:
            body["schema"] = {
                f: dict(FIELD_BY_ID[f].schema) for f in fields if FIELD_BY_ID[f].schema
            }
        if "changelog" in expand:
            histories = state["histories"]
            shown = histories[:changelog_cap]
            body["changelog"] = {
                "startAt": 0,
                "maxResults": len(shown),
                "total": len(histories),
                "histories": [self.history(h) for h in shown],
            }
        return body

    def _system(self, state: dict, field_id: str):
        b = self.base_url
        if field_id in ("created", "updated", "resolutiondate", "statuscategorychangedate"):
            return ts(state[field_id])
        if field_id == "issuetype":
            return self.issuetype(state["issuetype"])
        if field_id == "project":
            return self.project(state["project"])
        if field_id == "status":
            return self.status(state["status"])
        if field_id == "priority":
            return self.priority(state["priority"])
        if field_id in ("reporter", "creator", "assignee"):
            return self.user(state[field_id])
        if field_id == "resolution":
            name = state["resolution"]
            if name is None:
                return None
            res_id, description = RESOLUTIONS[name]
            return {
                "self": f"{b}/rest/api/3/resolution/{res_id}",
                "id": res_id,
                "description": description,
                "name": name,
            }
        if field_id in ("summary", "labels", "duedate"):
            value = state[field_id]
            return list(value) if isinstance(value, list) else value
        if field_id in ("description", "environment"):
            return state[field_id]
        if field_id == "components":
            return [
                {
                    "self": f"{b}/rest/api/3/component/{COMPONENTS[c][0]}",
                    "id": COMPONENTS[c][0],
                    "name": COMPONENTS[c][1],
                }
                | ({"description": COMPONENTS[c][2]} if COMPONENTS[c][2] else {})
                for c in state["components"]
            ]
        if field_id == "attachment":
            return [self.attachment(a) for a in state["attachments"]]
        if field_id == "comment":
            comments = [self.comment(state, c) for c in state["comments"]]
            return {
                "comments": comments,
                "self": f"{b}/rest/api/3/issue/{state['id']}/comment",
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            }
        if field_id == "watches":
            return {
                "self": f"{b}/rest/api/3/issue/{state['key']}/watchers",
                "watchCount": state["watch_count"],
                "isWatching": False,
            }
        if field_id == "votes":
            return {
                "self": f"{b}/rest/api/3/issue/{state['key']}/votes",
                "votes": 0,
                "hasVoted": False,
            }
        if field_id in ("progress", "aggregateprogress"):
            return {"progress": 0, "total": 0}
        if field_id == "worklog":
            return {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []}
        if field_id == "issuerestriction":
            return {"issuerestrictions": {}, "shouldDisplay": False}
        estimate = state["estimate_s"]
        if field_id == "timetracking":
            if estimate is None:
                return {}
            return {
                "originalEstimate": _hours(estimate),
                "remainingEstimate": _hours(estimate // 2),
                "timeSpent": _hours(estimate // 2),
                "originalEstimateSeconds": estimate,
                "remainingEstimateSeconds": estimate // 2,
                "timeSpentSeconds": estimate // 2,
            }
        if field_id in ("timeoriginalestimate", "aggregatetimeoriginalestimate"):
            return estimate
        if field_id in ("timeestimate", "aggregatetimeestimate", "timespent", "aggregatetimespent"):
            return None if estimate is None else estimate // 2
        if field_id == "workratio":
            return -1
        if field_id in ("fixVersions", "versions"):
            return []
        return None  # time tracking numbers, security, lastViewed: null as on most sites

    def _custom(self, state: dict, field_id: str, kind: str):
        value = state["custom"].get(field_id)
        if kind == "sla":
            return self._sla_field(state, field_id)
        if value is None:
            return None
        if kind == "option":
            return self.option(field_id, value)
        if kind == "options":
            return [self.option(field_id, v) for v in value]
        if kind == "user":
            return self.user(value)
        if kind == "users":
            return [self.user(v) for v in value]
        if kind == "organizations":
            return [
                {
                    "id": ORGANIZATIONS[o][0],
                    "name": ORGANIZATIONS[o][1],
                    "_links": {
                        "self": f"{self.base_url}/rest/servicedeskapi/organization/"
                        f"{ORGANIZATIONS[o][0]}"
                    },
                }
                for o in value
            ]
        if kind == "request_type":
            return self._request_type(state, value)
        if kind == "satisfaction":
            return {
                "self": f"{self.base_url}/rest/servicedeskapi/request/{state['id']}/feedback",
                "rating": value,
            }
        if kind == "satisfaction_date":
            return ts(value)
        return value

    def _request_type(self, state: dict, position: int) -> dict:
        b = self.base_url
        rt_id, name, description = REQUEST_TYPES[position]
        category = STATUS_BY_NAME[state["status"]].category
        return {
            "_links": {
                "jiraRest": f"{b}/rest/api/2/issue/{state['id']}",
                "web": f"{b}/servicedesk/customer/portal/1/{state['key']}",
                "agent": f"{b}/browse/{state['key']}",
                "self": f"{b}/rest/servicedeskapi/request/{state['id']}",
            },
            "requestType": {
                "_expands": ["field"],
                "id": rt_id,
                "_links": {"self": f"{b}/rest/servicedeskapi/servicedesk/1/requesttype/{rt_id}"},
                "name": name,
                "description": description,
                "helpText": "",
                "issueTypeId": ISSUE_TYPES[state["issuetype"]][0],
                "serviceDeskId": "1",
                "portalId": "1",
                "groupIds": ["1"],
                "icon": {
                    "id": "10548",
                    "_links": {
                        "iconUrls": {
                            size: f"{b}/rest/api/2/universal_avatar/view/type/SD_REQTYPE/avatar/10548"
                            f"?size={label}"
                            for size, label in (
                                ("48x48", "large"),
                                ("24x24", "small"),
                                ("16x16", "xsmall"),
                                ("32x32", "medium"),
                            )
                        }
                    },
                },
            },
            "currentStatus": {
                "status": state["status"],
                "statusCategory": category.upper(),
                "statusDate": self.sla_time(to_ms(state["statuscategorychangedate"]), state),
            },
        }

    # --- SLA -------------------------------------------------------------------------------------
    def sla_time(self, ms: int, state: dict) -> dict:
        at = moment(ms, USERS[state["reporter"]].offset_minutes)
        jira = format_jira_datetime(at)  # 2015-10-09T10:45:23.000+0700
        return {
            "iso8601": jira[:19] + jira[23:],
            "jira": jira,
            "friendly": friendly(at),
            "epochMillis": ms,
        }

    def sla_cycle(self, state: dict, goal: int, cycle: dict) -> dict:
        remaining = goal - cycle["elapsed"]
        out = {"startTime": self.sla_time(cycle["start"], state)}
        if cycle["stop"] is not None:
            out["stopTime"] = self.sla_time(cycle["stop"], state)
            out["breached"] = remaining < 0
        else:
            out.update(breached=remaining < 0, paused=cycle["paused"], withinCalendarHours=True)
            if remaining < 0:
                out["breachTime"] = self.sla_time(cycle["start"] + goal, state)
        out.update(
            goalDuration=duration(goal),
            elapsedTime=duration(cycle["elapsed"]),
            remainingTime=duration(remaining),
        )
        return out

    def sla_metric(self, state: dict, metric: dict) -> dict:
        completed = [c for c in metric["cycles"] if c["stop"] is not None]
        ongoing = [c for c in metric["cycles"] if c["stop"] is None]
        body = {
            "id": metric["id"],
            "name": metric["name"],
            "_links": {
                "self": f"{self.base_url}/rest/servicedeskapi/request/{state['id']}"
                f"/sla/{metric['id']}"
            },
            "completedCycles": [self.sla_cycle(state, metric["goal"], c) for c in completed],
        }
        if ongoing:
            body["ongoingCycle"] = self.sla_cycle(state, metric["goal"], ongoing[0])
        return body

    def _sla_field(self, state: dict, field_id: str) -> dict | None:
        name = FIELD_BY_ID[field_id].name
        for metric in state["sla"] or ():
            if metric["name"] == name:
                return {**self.sla_metric(state, metric), "slaDisplayFormat": "NEW_SLA_FORMAT"}
        return None

    def sla_page(self, state: dict, start: int, limit: int) -> dict:
        metrics = state["sla"] or []
        page = metrics[start : start + limit]
        base = f"{self.base_url}/rest/servicedeskapi"
        links = {"base": base, "context": "context"}
        is_last = start + len(page) >= len(metrics)
        if not is_last:
            links["next"] = f"{base}/request/{state['id']}/sla?start={start + limit}&limit={limit}"
        if start > 0:
            links["prev"] = (
                f"{base}/request/{state['id']}/sla?start={max(start - limit, 0)}&limit={limit}"
            )
        return {
            "_expands": [],
            "size": len(page),
            "start": start,
            "limit": limit,
            "isLastPage": is_last,
            "_links": links,
            "values": [self.sla_metric(state, m) for m in page],
        }

    # --- renderedFields, links, remote links, changelog pages ---------------------------------
    def _rendered(self, state: dict, fields: dict) -> dict:
        rendered: dict = dict.fromkeys(fields)
        for name in ("created", "updated", "resolutiondate", "statuscategorychangedate"):
            if name in rendered:
                rendered[name] = friendly(state[name])
        for name in ("description", "environment"):
            if name in rendered:
                rendered[name] = adf.to_html(state[name])
        if "customfield_10104" in rendered:
            rendered["customfield_10104"] = adf.to_html(state["custom"].get("customfield_10104"))
        if "comment" in rendered:
            comments = [
                {
                    **shown,
                    "body": adf.to_html(c["body"]),
                    "created": friendly(c["created"]),
                    "updated": friendly(c["updated"]),
                }
                for shown, c in zip(fields["comment"]["comments"], state["comments"], strict=True)
            ]
            rendered["comment"] = {
                "comments": comments,
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            }
        if "attachment" in rendered:
            rendered["attachment"] = [
                {**shown, "created": friendly(a["created"]), "size": f"{a['size'] / 1024:.1f} kB"}
                for shown, a in zip(fields["attachment"], state["attachments"], strict=True)
            ]
        if "worklog" in rendered:
            rendered["worklog"] = {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []}
        if "timetracking" in rendered:
            rendered["timetracking"] = {}
        return rendered

    def link(self, link_id: int, type_position: int, other: Brief, outward: bool) -> dict:
        type_id, name, inward, outward_name = LINK_TYPES[type_position]
        return {
            "id": str(link_id),
            "self": f"{self.base_url}/rest/api/3/issueLink/{link_id}",
            "type": {
                "id": type_id,
                "name": name,
                "inward": inward,
                "outward": outward_name,
                "self": f"{self.base_url}/rest/api/3/issueLinkType/{type_id}",
            },
            ("outwardIssue" if outward else "inwardIssue"): self.issue_ref(other),
        }

    def remote_link(self, state: dict, link: dict) -> dict:
        return {
            "id": link["id"],
            "self": f"{self.base_url}/rest/api/3/issue/{state['key']}/remotelink/{link['id']}",
            "globalId": link["globalId"],
            "application": dict(link["application"]),
            "relationship": link["relationship"],
            "object": link["object"],
        }

    def changelog_page(self, state: dict, start_at: int, max_results: int) -> dict:
        histories = state["histories"]
        page = histories[start_at : start_at + max_results]
        url = f"{self.base_url}/rest/api/3/issue/{state['key']}/changelog"
        is_last = start_at + len(page) >= len(histories)
        body = {
            "self": f"{url}?startAt={start_at}&maxResults={max_results}",
            "maxResults": max_results,
            "startAt": start_at,
            "total": len(histories),
            "isLast": is_last,
            "values": [self.history(h) for h in page],
        }
        if not is_last:
            body["nextPage"] = f"{url}?startAt={start_at + len(page)}&maxResults={max_results}"
        return body
