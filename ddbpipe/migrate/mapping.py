"""One pipeline definition -> the ddbpipe command that does its work, and what was left out.

Pure: a :class:`~ddbpipe.migrate.definition.Definition` in, a :class:`Migration` out (the argv
after ``ddbpipe``, every field mapped with where it went, every field not carried over with why,
or the reasons the pipeline is not migratable). Only flags that ``ddbpipe schedule create`` and
``ddbpipe emr export|import`` have are emitted; a test parses the argv with the real parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from ddbpipe import checks
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import schedule as sched
from ddbpipe.errors import ConfigError
from ddbpipe.migrate import period
from ddbpipe.migrate.definition import Definition, PipelineObject, Ref
from ddbpipe.migrate.expressions import RUN_TIME, Unsupported, evaluate
from ddbpipe.s3uri import S3Uri

_TOOL = re.compile(r"^org\.apache\.hadoop\.dynamodb\.tools\.DynamoD[bB](Export|Import)$")
_DURATION = re.compile(r"^\s*(\d+)\s+(minute|hour|day|week)s?\s*$", re.IGNORECASE)
_MINUTES = {"minute": 1, "hour": 60, "day": 1440, "week": 10080}
#: Data node fields the step reads through ``#{input.x}``/``#{output.x}`` in the templates.
_NODE_FIELDS = {"tableName", "directoryPath", "readThroughputPercent", "writeThroughputPercent"}
#: Fields that only give an object its identity or its place in the definition.
_STRUCTURAL = {"type", "parent"}
PRECONDITIONS = {"DynamoDBDataExists", "DynamoDBTableExists", "S3KeyExists", "S3PrefixNotEmpty",
                 "Exists", "ShellCommandPrecondition"}
#: Why a field is not carried over, by field name (any object type).
REASONS = {
    "releaseLabel": f"ddbpipe runs its Spark job on its own release ({d.RELEASE_LABEL}); "
                    "--release-label takes another",
    "amiVersion": f"ddbpipe runs its Spark job on its own release ({d.RELEASE_LABEL}); "
                  "--release-label takes another",
    "keyPair": "ddbpipe's clusters take no SSH key; the step's logs are under --log-uri",
    "maximumRetries": "a one-off ddbpipe run that fails is not retried: run the command again",
    "failureAndRerunMode": "one activity: there is nothing to cascade",
    "onFail": "ddbpipe sends no SNS notice: failed launches go to the dead-letter queue "
              "(--dlq-arn), a failed run shows in the EMR cluster's state and logs",
    "onSuccess": "ddbpipe sends no SNS notice",
    "onLateAction": "ddbpipe sends no SNS notice",
    "useOnDemandOnLastAttempt": "ddbpipe's clusters are on-demand",
    "coreInstanceBidPrice": "ddbpipe's clusters are on-demand",
    "bootstrapAction": "ddbpipe's bootstrap action installs ddbpipe; no other is run",
}


@dataclass(frozen=True)
class Row:
    field: str
    value: str
    where: str


@dataclass
class Migration:
    """The outcome for one pipeline; ``problems`` empty means migrated."""

    source: str
    kind: Optional[str] = None
    run_once: bool = False
    argv: list[str] = field(default_factory=list)
    mapped: list[Row] = field(default_factory=list)
    dropped: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def migrated(self) -> bool:
        return not self.problems


class _NotMigratable(Exception):
    pass


def split_step(step: str) -> list[str]:
    """An EmrActivity step's jar and arguments: split at commas, except escaped ones (``\\,``)
    and those inside a ``#{...}`` expression (``format(@scheduledStartTime, 'YYYY')``)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    i = 0
    while i < len(step):
        ch = step[i]
        if ch == "\\" and step[i + 1:i + 2] == ",":
            current.append(",")
            i += 2
            continue
        if step.startswith("#{", i):
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if ch == "," and not depth:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


class _Mapper:
    def __init__(self, definition: Definition, name: str, log_uri: Optional[str],
                 now: datetime) -> None:
        self.df = definition
        self.now = now
        self.name = name
        self.log_uri = log_uri
        self.result = Migration(source=definition.source)
        self.used: set[tuple[str, str]] = set()
        self.job: list[str] = []
        self.cluster: list[str] = []
        self.run: list[str] = []
        self.aws: list[str] = []

    # --- helpers ---------------------------------------------------------------------------

    def value(self, obj: PipelineObject, key: str) -> Optional[str]:
        """The evaluated string value of a field (inherited too), marking it used."""
        raw = self.df.first(obj, key)
        if raw is None:
            return None
        owner = self._owner(obj, key)
        self.used.add((owner.id, key))
        if isinstance(raw, Ref):
            return raw.id
        try:
            return evaluate(self.df, obj, raw).strip()
        except Unsupported as err:
            raise _NotMigratable(f"{owner.id}.{key}: {err}") from None

    def _owner(self, obj: PipelineObject, key: str) -> PipelineObject:
        current: Optional[PipelineObject] = obj
        seen: set[str] = set()
        while current is not None and current.id not in seen:
            seen.add(current.id)
            if key in current.fields:
                return current
            parent = current.fields.get("parent", (None,))[0]
            current = self.df.objects.get(parent.id) if isinstance(parent, Ref) else None
        return self.df.objects.get("Default", obj)

    def ref(self, obj: PipelineObject, key: str) -> Optional[PipelineObject]:
        raw = self.df.first(obj, key)
        if raw is None:
            return None
        self.used.add((self._owner(obj, key).id, key))
        if not isinstance(raw, Ref) or raw.id not in self.df.objects:
            raise _NotMigratable(f"{obj.id}.{key} does not refer to an object of the definition")
        return self.df.objects[raw.id]

    def mapped(self, obj: PipelineObject, key: str, value: str, where: str) -> None:
        self.result.mapped.append(Row(f"{self._owner(obj, key).id}.{key}", value, where))

    # --- the pipeline ----------------------------------------------------------------------

    def activity(self) -> PipelineObject:
        problems = []
        for obj in self.df.objects.values():
            if obj.type.endswith("Activity") and obj.type != "EmrActivity":
                problems.append(f"{obj.id} is a {obj.type}: only an EmrActivity running the "
                                "DynamoDB export or import tool is migrated")
            elif obj.type in PRECONDITIONS or "precondition" in obj.fields:
                problems.append(f"{obj.id} is a precondition ({obj.type or 'precondition'}): "
                                "preconditions are not migrated (ddbpipe checks its tables and "
                                "buckets before each run)")
        emr = self.df.of_type("EmrActivity")
        if not emr and not problems:
            problems.append("no EmrActivity: the pipeline is not a DynamoDB export or import")
        if len(emr) > 1:
            problems.append(f"{len(emr)} EmrActivity objects ({', '.join(o.id for o in emr)}): "
                            "ddbpipe migrates a pipeline of one export or import")
        if problems:
            raise _NotMigratable("; ".join(problems))
        return emr[0]

    def step(self, act: PipelineObject) -> tuple[str, list[str], list[str]]:
        steps = self.df.get(act, "step")
        if len(steps) != 1 or not isinstance(steps[0], str):
            raise _NotMigratable(f"{act.id} has {len(steps)} steps: ddbpipe migrates one "
                                 "export or import step")
        self.used.add((act.id, "step"))
        parts = [p.strip() for p in split_step(steps[0])]
        if len(parts) < 2 or not _TOOL.match(parts[1]):
            tool = parts[1] if len(parts) > 1 else parts[0]
            raise _NotMigratable(f"{act.id}'s step runs {tool}, not the connector's DynamoDB "
                                 "export or import tool (org.apache.hadoop.dynamodb.tools."
                                 "DynamoDBExport/DynamoDBImport)")
        match = _TOOL.match(parts[1])
        assert match is not None
        self.result.kind = match.group(1).lower()
        if len(parts) < 4:
            raise _NotMigratable(f"{act.id}'s step gives {parts[1]} {len(parts) - 2} arguments; "
                                 "it takes a folder, a table and a ratio (optional)")
        try:
            args = [evaluate(self.df, act, p) for p in parts[2:]]
        except Unsupported as err:
            raise _NotMigratable(f"{act.id}.step: {err}") from None
        self.result.dropped.append(Row(f"{act.id}.step (jar)", parts[0],
                                       "ddbpipe runs its own Spark job with EMR's DynamoDB "
                                       "connector; no tools jar is needed"))
        return parts[1], parts[2:], args

    def traced(self, act: PipelineObject, raw: str) -> Optional[tuple[PipelineObject, str]]:
        """The node field a step argument like ``#{input.tableName}`` reads, if it is one."""
        m = re.match(r"^#\{\s*(input|output)\.([A-Za-z]+)\s*\}$", raw)
        if not m:
            return None
        node = self.ref(act, m.group(1))
        return (node, m.group(2)) if node is not None else None

    def arg(self, act: PipelineObject, index: int, raw: str, value: str, where: str) -> None:
        source = self.traced(act, raw)
        if source is not None:
            node, key = source
            self.used.add((self._owner(node, key).id, key))
            self.mapped(node, key, value, where)
        else:
            self.result.mapped.append(Row(f"{act.id}.step[{index}]", value, where))

    def export(self, act: PipelineObject, raw: list[str], args: list[str]) -> None:
        path, table = args[0], args[1]
        self.table(table, raw[1], act)
        if RUN_TIME in path:
            prefix, _, after = path.partition(RUN_TIME)
            if after.strip("/"):
                raise _NotMigratable(f"the export folder {path} has text after the run time "
                                     f"({after}); ddbpipe's run folder ends with the time")
            to = prefix.rstrip("/")
        else:
            to = path.rstrip("/")
        uri = self.s3(to, "the export folder")
        runs = uri.join(table) if uri.key else uri.join("<region>", table)
        layout = (f"Data Pipeline wrote each run to {path}/, ddbpipe writes it to "
                  f"{runs}/{RUN_TIME}/ (the same manifest and data files; `ddbpipe import "
                  "--from` reads both)")
        self.job += ["--table", table, "--to", str(uri)]
        self.arg(act, 0, raw[0], path, f"--to {uri}: {layout}")
        self.percent(act, raw, args, "read")

    def import_(self, act: PipelineObject, raw: list[str], args: list[str]) -> None:
        path, table = args[0], args[1]
        if RUN_TIME in path:
            raise _NotMigratable(f"the import folder {path} depends on the run's time; "
                                 "`ddbpipe import --from` reads one export folder")
        uri = self.s3(path.rstrip("/"), "the import folder")
        self.job += ["--from", str(uri)]
        self.arg(act, 0, raw[0], path, f"--from {uri}")
        self.table(table, raw[1], act)
        self.percent(act, raw, args, "write")
        self.result.mapped.append(Row(f"{act.id}.step (DynamoDBImport)", "put items",
                                      "import --mode merge (the default): items of the export "
                                      "replace those with the same key, others stay, as before"))

    def table(self, table: str, raw: str, act: PipelineObject) -> None:
        try:
            checks.check_table_name(table, "table")
        except ConfigError as err:
            raise _NotMigratable(err.what) from None
        if self.result.kind == "import":
            self.job += ["--table", table]
        self.arg(act, 1, raw, table, f"--table {table}")

    def percent(self, act: PipelineObject, raw: list[str], args: list[str],
                direction: str) -> None:
        flag = f"--{direction}-percent"
        if len(args) < 3:  # the tool's default, dynamodb.throughput.*.percent, is ddbpipe's
            self.result.mapped.append(Row(f"{act.id}.step", "(no ratio: the tool's 0.5)",
                                          f"{flag} 0.5, ddbpipe's default"))
            return
        value = args[2]
        try:
            number = checks.check_percent(float(value), flag)
        except ValueError:
            raise _NotMigratable(f"the ratio {value!r} is not a number") from None
        except ConfigError as err:
            raise _NotMigratable(err.what) from None
        self.job += [flag, f"{number:g}"]
        self.arg(act, 2, raw[2], value, f"{flag} {number:g}")

    def s3(self, text: str, what: str) -> S3Uri:
        try:
            return S3Uri.parse(text, what)
        except ConfigError as err:
            raise _NotMigratable(err.what) from None

    def when(self, act: PipelineObject) -> Optional[str]:
        """The --cron expression, or None for a one-off run."""
        default = self.df.objects.get("Default")
        stype = self.value(act, "scheduleType")
        if stype is not None:
            owner = self._owner(act, "scheduleType")
            low = stype.lower()
            where = {"ondemand": "a one-off run: run the command when you activated the pipeline",
                     "cron": "runs at the start of each period",
                     "timeseries": "ran at the end of each period; ddbpipe runs at its start"}
            self.result.mapped.append(Row(f"{owner.id}.scheduleType", stype,
                                          where.get(low, "not understood; taken as cron")))
            if low == "ondemand":
                return None
        node = self.ref(act, "schedule")
        if node is None and default is not None:
            node = self.ref(default, "schedule")
        if node is None:
            self.result.mapped.append(Row(f"{act.id}.schedule", "(none)",
                                          "a one-off run: ddbpipe emr ..."))
            return None
        for obj in self.df.objects.values():  # data nodes and clusters follow the same schedule
            if obj.fields.get("schedule") == (Ref(node.id),):
                self.used.add((obj.id, "schedule"))
        occurrences = self.value(node, "occurrences")
        if occurrences is not None and occurrences.strip() == "1":
            self.mapped(node, "occurrences", occurrences, "a one-off run: ddbpipe emr ...")
            for key in ("period", "startAt", "startDateTime"):
                text = self.value(node, key)
                if text is not None:
                    self.result.dropped.append(Row(f"{node.id}.{key}", text,
                                                   "one run: start it with the command"))
            return None
        if occurrences is not None:
            self.result.dropped.append(Row(f"{node.id}.occurrences", occurrences,
                                           "Scheduler has no run count: delete the schedule "
                                           "after that many runs"))
        start_text = self.value(node, "startDateTime")
        start_at = self.value(node, "startAt")
        start = None
        if start_text is not None:
            try:
                start = period.parse_start(start_text)
            except period.BadPeriod as err:
                raise _NotMigratable(f"{node.id}.startDateTime: {err}") from None
        every = self.value(node, "period")
        if every is None:
            raise _NotMigratable(f"{node.id} has no period")
        try:
            expr = period.expression(every, start)
        except period.BadPeriod as err:
            raise _NotMigratable(f"{node.id}: {err}") from None
        self.mapped(node, "period", every, f"--cron {expr.text}")
        if start_text is not None:
            if expr.text.startswith("cron("):
                self.mapped(node, "startDateTime", start_text, f"--cron {expr.text} ({expr.note})")
            else:
                self.result.dropped.append(Row(f"{node.id}.startDateTime", start_text,
                                               expr.note or ""))
        if start_at is not None:
            self.mapped(node, "startAt", start_at, "the schedule starts when it is created")
        if start is not None and start > self.now:
            flag = f"--start-date {start:%Y-%m-%dT%H:%M:%S}"
            self.run += ["--start-date", f"{start:%Y-%m-%dT%H:%M:%S}"]
            self.result.mapped.append(Row(f"{node.id}.startDateTime", start_text or "",
                                          f"{flag} (no run before it)"))
        end_text = self.value(node, "endDateTime")
        if end_text is not None:
            try:
                end = period.parse_start(end_text)
            except period.BadPeriod as err:
                raise _NotMigratable(f"{node.id}.endDateTime: {err}") from None
            if end <= self.now:
                raise _NotMigratable(f"{node.id}.endDateTime {end_text} has passed: the pipeline "
                                     "runs no more, there is nothing to schedule")
            self.run += ["--end-date", f"{end:%Y-%m-%dT%H:%M:%S}"]
            self.mapped(node, "endDateTime", end_text,
                        f"--end-date {end:%Y-%m-%dT%H:%M:%S} (no run after it)")
        return expr.text

    def cluster_of(self, act: PipelineObject, table_node: Optional[PipelineObject]) -> None:
        emr = self.ref(act, "runsOn")
        if emr is None or emr.type != "EmrCluster":
            raise _NotMigratable(f"{act.id} does not run on an EmrCluster (runsOn); workerGroup "
                                 "task runners are not migrated")
        region = None
        if table_node is not None:
            region = self.value(table_node, "region")
            if region:
                self.mapped(table_node, "region", region, f"--region {region}")
        cluster_region = self.value(emr, "region")
        if cluster_region:
            if region is None:
                region = cluster_region
                self.mapped(emr, "region", cluster_region, f"--region {region}")
            elif cluster_region == region:
                self.mapped(emr, "region", cluster_region, "--region (the table's region)")
            else:
                self.result.dropped.append(Row(f"{emr.id}.region", cluster_region,
                                               f"ddbpipe runs the cluster in the table's region "
                                               f"({region})"))
        if region:
            try:
                checks.check_region(region)
            except ConfigError as err:
                raise _NotMigratable(err.what) from None
            self.aws += ["--region", region]
        self.instance_type(emr)
        resize = (self.value(act, "resizeClusterBeforeRunning") or "").lower() == "true"
        if resize:
            self.mapped(act, "resizeClusterBeforeRunning", "true",
                        "ddbpipe sizes the core nodes from capacity x percent (no --core-count)")
        count = self.value(emr, "coreInstanceCount")
        if count is not None:
            if resize:
                self.result.dropped.append(Row(f"{emr.id}.coreInstanceCount", count,
                                               "resizeClusterBeforeRunning sized the cluster; "
                                               "ddbpipe sizes it from capacity x percent too"))
            elif count.isdigit() and int(count) >= 1:
                self.cluster += ["--core-count", count]
                self.mapped(emr, "coreInstanceCount", count, f"--core-count {count}")
            else:
                raise _NotMigratable(f"{emr.id}.coreInstanceCount {count!r} is not a count "
                                     "of at least 1")
        self.timeout(act, emr)
        subnet = self.value(emr, "subnetId")
        if subnet:
            self.cluster += ["--subnet-id", subnet]
            self.mapped(emr, "subnetId", subnet, f"--subnet-id {subnet}")

    def instance_type(self, emr: PipelineObject) -> None:
        types = {k: self.value(emr, k) for k in ("coreInstanceType", "masterInstanceType")}
        given = types["coreInstanceType"] or types["masterInstanceType"]
        if given is None:
            return
        try:
            chosen, note = d.resolve_instance_type(given)
        except ConfigError as err:
            raise _NotMigratable(err.what) from None
        self.cluster += ["--instance-type", chosen]
        for key, value in types.items():
            if value is None:
                continue
            if value.strip().lower() == given.strip().lower():
                self.mapped(emr, key, value, f"--instance-type {chosen}"
                            + (f" ({note})" if note else ""))
            else:
                self.result.dropped.append(Row(f"{emr.id}.{key}", value,
                                               f"ddbpipe uses one type for the leader and core "
                                               f"nodes ({chosen})"))

    def timeout(self, act: PipelineObject, emr: PipelineObject) -> None:
        for obj, key in ((emr, "terminateAfter"), (act, "attemptTimeout")):
            text = self.value(obj, key)
            if text is None:
                continue
            m = _DURATION.match(text)
            if not m:
                raise _NotMigratable(f"{obj.id}.{key} {text!r} is not like '2 Hours'")
            minutes = int(m.group(1)) * _MINUTES[m.group(2).lower()]
            if "--timeout" in self.run:
                self.result.dropped.append(Row(f"{obj.id}.{key}", text,
                                               f"the run has one time limit, taken from "
                                               f"{emr.id}.terminateAfter"))
                continue
            self.run += ["--timeout", str(minutes)]
            self.mapped(obj, key, text, f"--timeout {minutes} (minutes)")

    def roles_and_logs(self, act: PipelineObject) -> None:
        role = self.value(act, "role")
        resource = self.value(act, "resourceRole")
        dp = (d.DATAPIPELINE_SERVICE_ROLE, d.DATAPIPELINE_INSTANCE_ROLE)
        if (role, resource) == dp:
            self.cluster.append("--datapipeline-roles")
            where = ("--datapipeline-roles (run `ddbpipe iam setup --datapipeline-roles` once so "
                     "they allow ddbpipe's clusters; or leave the flag out for ddbpipe's roles)")
            self.mapped(act, "role", role or "", where)
            self.mapped(act, "resourceRole", resource or "", where)
        else:
            if role:
                self.cluster += ["--service-role", role]
                self.mapped(act, "role", role, f"--service-role {role} (the EMR service role)")
            if resource:
                self.cluster += ["--instance-profile", resource]
                self.mapped(act, "resourceRole", resource,
                            f"--instance-profile {resource} (the nodes' instance profile)")
        logs = self.value(act, "pipelineLogUri")
        if logs:
            self.mapped(act, "pipelineLogUri", logs, f"--log-uri {logs}")
        elif self.log_uri:
            logs = self.log_uri
            self.result.mapped.append(Row("(migrate --log-uri)", logs, f"--log-uri {logs}"))
        else:
            raise _NotMigratable("no pipelineLogUri: ddbpipe needs --log-uri; pass "
                                 "`ddbpipe migrate --log-uri s3://BUCKET/logs/`")
        self.cluster += ["--log-uri", logs]

    def retries(self, act: PipelineObject) -> None:
        text = self.value(act, "maximumRetries")
        if text is None:
            return
        try:
            retries = sched.check_retries(int(text))
        except (ValueError, ConfigError):
            raise _NotMigratable(f"{self._owner(act, 'maximumRetries').id}.maximumRetries "
                                 f"{text!r} is not a number of retries from 0 to "
                                 f"{sched.MAX_RETRIES}") from None
        self.run += ["--retries", str(retries)]
        self.mapped(act, "maximumRetries", text,
                    f"--retries {retries}: Scheduler retries a launch that fails (a run that "
                    "fails on the cluster is not re-run)")

    def leftovers(self) -> None:
        for obj in self.df.objects.values():
            for key, values in obj.fields.items():
                if key in _STRUCTURAL or (obj.id, key) in self.used:
                    continue
                shown = ", ".join(v.id if isinstance(v, Ref) else v for v in values)
                kind = obj.type or obj.id
                reason = REASONS.get(key, f"ddbpipe has no equivalent of {kind}.{key}")
                if key in _NODE_FIELDS and obj.type in ("DynamoDBDataNode", "S3DataNode"):
                    reason = "the step's arguments do not read it; they were used instead"
                if obj.type == "SnsAlarm":
                    reason = REASONS["onFail"]
                self.result.dropped.append(Row(f"{obj.id}.{key}", shown, reason))

    def run_mapping(self) -> Migration:
        act = self.activity()
        tool, raw, args = self.step(act)
        if self.result.kind == "export":
            self.export(act, raw, args)
        else:
            self.import_(act, raw, args)
        if len(args) > 3:
            self.result.dropped.append(Row(f"{act.id}.step[3:]", ",".join(args[3:]),
                                           f"ddbpipe plans the segments itself ({tool}'s "
                                           "extra arguments are not used)"))
        table_node = self.ref(act, "input" if self.result.kind == "export" else "output")
        self.ref(act, "output" if self.result.kind == "export" else "input")
        cron = self.when(act)
        if cron is not None:
            self.retries(act)
        self.cluster_of(act, table_node)
        self.roles_and_logs(act)
        self.leftovers()
        kind = self.result.kind or ""
        if cron is None:
            self.result.run_once = True
            self.result.argv = ["emr", kind, *self.job, *self.cluster, *self.run, *self.aws]
        else:
            try:
                sched.check_name(self.name)
            except ConfigError as err:
                raise _NotMigratable(f"{err.what} Pass `ddbpipe migrate --name NAME`.") from None
            self.result.argv = ["schedule", "create", "--name", self.name, "--cron", cron, kind,
                                *self.job, *self.cluster, *self.run, *self.aws]
        return self.result


def migrate(definition: Definition, name: str, log_uri: Optional[str] = None,
            now: Optional[datetime] = None) -> Migration:
    """What ``definition`` becomes; ``name`` names the schedule of a recurring pipeline, ``now``
    (UTC, default the present) tells a start date to come from one that has passed."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    mapper = _Mapper(definition, name, log_uri, now)
    try:
        return mapper.run_mapping()
    except _NotMigratable as err:
        result = mapper.result
        result.argv = []
        result.problems.append(str(err))
        return result
