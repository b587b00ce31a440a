"""The simulated site's fixed catalogue: people, projects, workflow, link types and the field
list. Kept apart from the generator so ``/rest/api/3/field``, issue rendering and the
webhook bodies all read one definition of what a field id means."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone


@dataclass(frozen=True)
class User:
    account_id: str
    display_name: str
    email: str | None  # None: the user hides their address, as many real accounts do
    time_zone: str
    offset_minutes: int
    account_type: str = "atlassian"

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(minutes=self.offset_minutes))


# Offsets +0100, -0500, +0530, +0000 (and a couple more) so that timestamps carry mixed
# offsets and some issues fall in a different month locally than in UTC.
USERS: tuple[User, ...] = (
    User("5b10a2844c20165700ede21g", "Mia Krystof", "mia@example.com", "Europe/Paris", 60),
    User("5cedcb4355a88a0fc86388ba", "Sam Okafor", None, "America/New_York", -300),
    User("619a4432ebce470067f20384", "Priya Raman", "priya@example.com", "Asia/Kolkata", 330),
    User("5c5f880629be9642ba529340", "Tom Baker", "tom@example.com", "Europe/London", 0),
    User("63a22fb348b367d78a14c15b", "Ana Lima", "ana@example.com", "America/Sao_Paulo", -180),
    User("5b86be50b8e3cb5895860d6d", "Carlos Treminio", None, "America/Guatemala", -360),
    User("712020:4f1c2e8a-9b7d-4c1e-8f3a-2d6b5e9c0a11", "Kenji Sato", None, "Asia/Tokyo", 540),
    User("5d53f3cbc6b9320d9ea5bdc2", "Lena Fischer", "lena@example.com", "Europe/Berlin", 60),
    User(
        "qm:0f3a9c1e-7b2d-4e5f-8a6b-1c2d3e4f5a6b:11",
        "Customer One",
        "one@customer.example",
        "America/Chicago",
        -300,
        "customer",
    ),
    User(
        "qm:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d:22",
        "Customer Two",
        "two@customer.example",
        "Asia/Kolkata",
        330,
        "customer",
    ),
    User(
        "qm:1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d:33",
        "Customer Three",
        None,
        "Europe/Dublin",
        0,
        "customer",
    ),
)
AGENTS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
CUSTOMERS: tuple[int, ...] = (8, 9, 10)


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str  # "new" | "indeterminate" | "done"


STATUSES: tuple[Status, ...] = (
    Status("10000", "To Do", "new"),
    Status("10001", "Waiting for support", "new"),
    Status("10002", "In Progress", "indeterminate"),
    Status("10003", "Waiting for customer", "indeterminate"),
    Status("10004", "Escalated", "indeterminate"),
    Status("10005", "Resolved", "done"),
    Status("10006", "Done", "done"),
    Status("10007", "Closed", "done"),
)
STATUS_BY_NAME = {s.name: s for s in STATUSES}
STATUS_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
RESOLUTIONS = {
    "Done": ("10000", "Work has been completed on this issue."),
    "Won't Do": ("10001", "This issue won't be actioned."),
    "Duplicate": ("10002", "The problem is a duplicate of an existing issue."),
    "Cannot Reproduce": ("10003", "All attempts at reproducing this issue failed."),
}
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
ISSUE_TYPES = {
    # name: (id, subtask, hierarchyLevel, description)
    "Service request": ("10100", False, 0, "Request help or information."),
    "Incident": ("10101", False, 0, "Report an incident or outage."),
    "Bug": ("10102", False, 0, "A problem which impairs or prevents the functions of a product."),
    "Task": ("10103", False, 0, "A small, distinct piece of work."),
    "Story": ("10104", False, 0, "Functionality or a feature expressed as a user goal."),
    "Sub-task": ("10105", True, -1, "A small piece of work that's part of a larger task."),
}
LINK_TYPES = (
    # (id, name, inward, outward)
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Cloners", "is cloned by", "clones"),
    ("10002", "Duplicate", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
)


@dataclass(frozen=True)
class Project:
    id: str
    key: str
    name: str
    type_key: str  # "service_desk" projects carry JSM fields and SLAs


def make_project(position: int, key: str) -> Project:
    """The first project is the service desk, the rest are software projects."""
    if position == 0:
        return Project(str(10000 + position), key, f"{key.title()} Service Desk", "service_desk")
    return Project(str(10000 + position), key, f"{key.title()} Engineering", "software")


REQUEST_TYPES = (
    # (id, name, description)
    ("11", "Get IT help", "Get assistance for general IT problems and questions."),
    ("12", "Report a bug", "Let us know if something isn't working properly."),
    ("13", "Request access", "Ask for access to a system or application."),
    ("14", "Report an outage", "Something is down for everybody."),
)
ORGANIZATIONS = (("1", "Acme Corp"), ("2", "Globex"), ("3", "Initech"), ("4", "Umbrella Ltd"))
COMPONENTS = (
    ("10200", "Billing", "Invoices, payments and refunds"),
    ("10201", "Login", ""),
    ("10202", "API", "Public REST API"),
    ("10203", "Mobile app", ""),
)
LABELS = ("customer", "p1-followup", "regression", "docs", "vip", "billing", "sso", "mobile")


@dataclass(frozen=True)
class FieldDef:
    """One entry of ``/rest/api/3/field``. ``kind`` says how the issue renderer builds the
    value (``system`` fields are built by name); ``options`` feeds the option generators."""

    id: str
    name: str
    schema: dict | None
    kind: str = "system"
    clause_names: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    in_issue: bool = True
    orderable: bool = True
    navigable: bool = True
    searchable: bool = True

    @property
    def custom(self) -> bool:
        return self.id.startswith("customfield_")

    @property
    def custom_id(self) -> int | None:
        return int(self.id.split("_", 1)[1]) if self.custom else None

    def to_json(self) -> dict:
        entry: dict = {"id": self.id, "key": self.id, "name": self.name}
        if self.custom:
            entry["untranslatedName"] = self.name
        entry.update(
            custom=self.custom,
            orderable=self.orderable,
            navigable=self.navigable,
            searchable=self.searchable,
        )
        clauses = self.clause_names or ((f"cf[{self.custom_id}]", self.name) if self.custom else ())
        if clauses:
            entry["clauseNames"] = list(clauses)
        if self.schema is not None:
            entry["schema"] = dict(self.schema)
        return entry


def _system(
    field_id: str,
    name: str,
    type_: str | None,
    items: str | None = None,
    clauses: tuple[str, ...] = (),
    **flags,
) -> FieldDef:
    schema = None
    if type_ is not None:
        schema = {"type": type_}
        if items:
            schema["items"] = items
        schema["system"] = field_id
    return FieldDef(field_id, name, schema, "system", clauses or (field_id,), **flags)


_CFT = "com.atlassian.jira.plugin.system.customfieldtypes"


def _custom(
    number: int,
    name: str,
    type_: str,
    custom: str,
    kind: str,
    items: str | None = None,
    options: tuple[str, ...] = (),
) -> FieldDef:
    schema: dict = {"type": type_}
    if items:
        schema["items"] = items
    schema.update(custom=custom, customId=number)
    return FieldDef(f"customfield_{number}", name, schema, kind, options=options)


FIELDS: tuple[FieldDef, ...] = (
    _system(
        "statuscategorychangedate",
        "Status Category Changed",
        "datetime",
        clauses=("statusCategoryChangedDate",),
        orderable=False,
    ),
    _system("issuetype", "Issue Type", "issuetype", clauses=("issuetype", "type")),
    _system("parent", "Parent", None, clauses=("parent",)),
    _system("timespent", "Time Spent", "number", orderable=False),
    _system("project", "Project", "project"),
    _system("fixVersions", "Fix versions", "array", "version", clauses=("fixVersion",)),
    _system("aggregatetimespent", "Σ Time Spent", "number", orderable=False),
    _system("resolution", "Resolution", "resolution"),
    _system(
        "resolutiondate",
        "Resolved",
        "datetime",
        clauses=("resolutiondate", "resolved"),
        orderable=False,
    ),
    _system("workratio", "Work Ratio", "number", orderable=False),
    _system("issuerestriction", "Restrict to", "issuerestriction", orderable=True),
    _system("lastViewed", "Last Viewed", "datetime", orderable=False),
    _system("watches", "Watchers", "watches", clauses=("watchers",), orderable=False),
    _system("created", "Created", "datetime", clauses=("created", "createdDate"), orderable=False),
    _system("priority", "Priority", "priority"),
    _system("labels", "Labels", "array", "string"),
    _system(
        "timeestimate",
        "Remaining Estimate",
        "number",
        clauses=("remainingEstimate", "timeestimate"),
        orderable=False,
    ),
    _system("aggregatetimeoriginalestimate", "Σ Original Estimate", "number", orderable=False),
    _system("versions", "Affects versions", "array", "version", clauses=("affectedVersion",)),
    _system("issuelinks", "Linked Issues", "array", "issuelinks", clauses=("issueLink",)),
    _system("assignee", "Assignee", "user"),
    _system("updated", "Updated", "datetime", clauses=("updated", "updatedDate"), orderable=False),
    _system("status", "Status", "status", orderable=False),
    _system("components", "Components", "array", "component", clauses=("component",)),
    _system(
        "timeoriginalestimate",
        "Original estimate",
        "number",
        clauses=("originalEstimate", "timeoriginalestimate"),
    ),
    _system("description", "Description", "string"),
    _system("timetracking", "Time tracking", "timetracking"),
    _system("security", "Security Level", "securitylevel", clauses=("level",)),
    _system("attachment", "Attachment", "array", "attachment", clauses=("attachments",)),
    _system("aggregatetimeestimate", "Σ Remaining Estimate", "number", orderable=False),
    _system("summary", "Summary", "string"),
    _system("creator", "Creator", "user", orderable=False),
    _system("subtasks", "Sub-tasks", "array", "issuelinks", orderable=False),
    _system("reporter", "Reporter", "user"),
    _system("aggregateprogress", "Σ Progress", "progress", orderable=False),
    _system("environment", "Environment", "string"),
    _system("duedate", "Due date", "date", clauses=("due", "duedate")),
    _system("progress", "Progress", "progress", orderable=False),
    _system("comment", "Comment", "comments-page"),
    _system("votes", "Votes", "votes", orderable=False),
    _system("worklog", "Log Work", "array", "worklog"),
    # Listed by /field but never a key of an issue's "fields".
    _system(
        "issuekey",
        "Key",
        None,
        clauses=("id", "issue", "issuekey", "key"),
        in_issue=False,
        orderable=False,
    ),
    _system("thumbnail", "Images", None, in_issue=False, orderable=False, searchable=False),
    _system(
        "statusCategory",
        "Status Category",
        None,
        clauses=("statusCategory",),
        in_issue=False,
        orderable=False,
    ),
    # Jira Software / JSM custom fields with the ids of a real service-desk site.
    _custom(
        10000,
        "Development",
        "any",
        "com.atlassian.jira.plugins.jira-development-integration-plugin:devsummarycf",
        "devsummary",
    ),
    _custom(10001, "Team", "any", "com.atlassian.teams:rm-teams-custom-field-team", "null"),
    _custom(
        10002,
        "Organizations",
        "array",
        "com.atlassian.servicedesk:sd-customer-organizations",
        "organizations",
        items="sd-customerorganization",
    ),
    _custom(10003, "Approvers", "array", f"{_CFT}:multiuserpicker", "null", items="user"),
    _custom(
        10010,
        "Request Type",
        "sd-customerrequesttype",
        "com.atlassian.servicedesk:vp-origin",
        "request_type",
    ),
    _custom(10014, "Epic Link", "any", "com.pyxis.greenhopper.jira:gh-epic-link", "null"),
    _custom(10015, "Start date", "date", f"{_CFT}:datepicker", "null"),
    _custom(
        10016,
        "Story point estimate",
        "number",
        "com.pyxis.greenhopper.jira:jsw-story-points",
        "story_points",
    ),
    _custom(10019, "Rank", "any", "com.pyxis.greenhopper.jira:gh-lexo-rank", "rank"),
    _custom(10020, "Sprint", "array", "com.pyxis.greenhopper.jira:gh-sprint", "null", items="json"),
    _custom(
        10021,
        "Flagged",
        "array",
        f"{_CFT}:multicheckboxes",
        "options",
        items="option",
        options=("Impediment",),
    ),
    _custom(
        10026,
        "Request participants",
        "array",
        "com.atlassian.servicedesk:sd-request-participants",
        "users",
        items="user",
    ),
    _custom(
        10027,
        "Satisfaction",
        "sd-feedback",
        "com.atlassian.servicedesk:sd-request-feedback",
        "satisfaction",
    ),
    _custom(
        10028,
        "Satisfaction date",
        "datetime",
        "com.atlassian.servicedesk:sd-request-feedback-date",
        "satisfaction_date",
    ),
    _custom(
        10029,
        "Approvals",
        "sd-approvals",
        "com.atlassian.servicedesk.approvals-plugin:sd-approvals",
        "null",
    ),
    _custom(
        10033,
        "Time to resolution",
        "sd-servicelevelagreement",
        "com.atlassian.servicedesk:sd-sla-field",
        "sla",
    ),
    _custom(
        10034,
        "Time to first response",
        "sd-servicelevelagreement",
        "com.atlassian.servicedesk:sd-sla-field",
        "sla",
    ),
    _custom(
        10035,
        "Request language",
        "sd-request-lang",
        "com.atlassian.servicedesk.servicedesk-lingo-integration-plugin:sd-request-language",
        "null",
    ),
    # Site-specific fields, named like the seed's.
    _custom(
        10100,
        "Severity",
        "option",
        f"{_CFT}:select",
        "option",
        options=("S1 - Critical", "S2 - Major", "S3 - Minor", "S4 - Cosmetic"),
    ),
    _custom(
        10101,
        "Triage",
        "option",
        f"{_CFT}:radiobuttons",
        "option",
        options=("Untriaged", "Needs info", "Accepted", "Rejected"),
    ),
    _custom(
        10102,
        "Configuration item",
        "array",
        f"{_CFT}:multiselect",
        "options",
        items="option",
        options=(
            "web-frontend",
            "payments-api",
            "auth-service",
            "mobile-ios",
            "mobile-android",
            "data-warehouse",
        ),
    ),
    _custom(
        10103,
        "Spam",
        "array",
        f"{_CFT}:multicheckboxes",
        "options",
        items="option",
        options=("Spam",),
    ),
    _custom(10104, "Context", "string", f"{_CFT}:textarea", "adf"),
    _custom(10105, "Custom URL", "string", f"{_CFT}:url", "url"),
    _custom(10106, "Slack link", "string", f"{_CFT}:url", "slack_url"),
    _custom(
        10107,
        "Technical issue category",
        "array",
        f"{_CFT}:multiselect",
        "options",
        items="option",
        options=(
            "Performance",
            "Data loss",
            "Security",
            "Integration",
            "UI glitch",
            "Configuration",
        ),
    ),
    _custom(10108, "Email address", "string", f"{_CFT}:textfield", "email"),
    _custom(
        10109,
        "L3 team",
        "option",
        f"{_CFT}:select",
        "option",
        options=("Platform", "Payments", "Identity", "Mobile", "Data"),
    ),
    _custom(10110, "L3 engineer", "user", f"{_CFT}:userpicker", "user"),
    _custom(10111, "Customer rating", "number", f"{_CFT}:float", "number"),
)
FIELD_BY_ID = {f.id: f for f in FIELDS}
ISSUE_FIELDS: tuple[FieldDef, ...] = tuple(f for f in FIELDS if f.in_issue)
