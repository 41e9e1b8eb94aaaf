"""``ddbpipe migrate``: Data Pipeline definitions -> the ddbpipe command, field by field.

The fixtures in data/datapipeline/ are the console templates "Export DynamoDB table to S3" and
"Import DynamoDB backup data from S3" as the Data Pipeline documentation gives them, an older
DynamoDbExport (emr-ddb-storage-handler 2.1.0) daily pipeline and a ShellCommandActivity.
"""

from __future__ import annotations

import copy
import json
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ddbpipe import migrate as m
from ddbpipe.aws import resolve
from ddbpipe.cli import build_parser, main
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import executors, runlimits
from ddbpipe.cluster import schedule as sched
from ddbpipe.commands import emr, schedule
from ddbpipe.errors import ConfigError
from ddbpipe.migrate import mapping, period
from tests.support.pipelines import DATA, api_form, load

#: The present, as the tests see it: start and end dates are before or after it.
NOW = datetime(2026, 6, 1, 12, 0, 0)


def run(doc: dict[str, Any], *overrides: dict[str, str], name: str = "orders-backup",
        log_uri: str | None = None) -> m.Migration:
    return m.migrate(m.parse("test.json", doc, list(overrides)), name, log_uri, now=NOW)


def rows(rows: list[m.Row]) -> dict[str, m.Row]:
    return {r.field: r for r in rows}


# --- the console templates ---------------------------------------------------------------------


def test_export_console_template_is_a_one_off_emr_export():
    result = run(load("export-template.json"))
    assert result.migrated and result.run_once and result.kind == "export"
    assert result.argv == [
        "emr", "export", "--table", "Orders", "--to", "s3://mybucket/exports",
        "--read-percent", "0.25", "--instance-type", "m5.xlarge", "--datapipeline-roles",
        "--log-uri", "s3://mybucket/logs/", "--region", "us-east-1"]
    mapped = rows(result.mapped)
    assert mapped["DDBSourceTable.tableName"].where == "--table Orders"
    assert mapped["DDBSourceTable.readThroughputPercent"].where == "--read-percent 0.25"
    folder = mapped["S3BackupLocation.directoryPath"]
    assert folder.value == f"s3://mybucket/exports/{m.expressions.RUN_TIME}"
    assert "s3://mybucket/exports/Orders/" in folder.where  # the layout difference is said
    assert "m3.xlarge is retired" in mapped["EmrClusterForBackup.coreInstanceType"].where
    assert "ddbpipe iam setup --datapipeline-roles" in mapped["Default.role"].where
    assert "one-off" in mapped["Default.scheduleType"].where
    dropped = rows(result.dropped)
    assert set(dropped) == {"TableBackupActivity.step (jar)",
                            "EmrClusterForBackup.coreInstanceCount",
                            "EmrClusterForBackup.releaseLabel", "Default.failureAndRerunMode",
                            "TableBackupActivity.maximumRetries"}
    assert dropped["EmrClusterForBackup.releaseLabel"].value == "emr-5.23.0"


def test_import_console_template_is_a_one_off_emr_import_in_merge_mode():
    result = run(load("import-template.json"))
    assert result.migrated and result.run_once and result.kind == "import"
    assert result.argv == [
        "emr", "import", "--from", "s3://mybucket/exports/Orders/2024-01-31-03-00-00",
        "--table", "Orders", "--write-percent", "0.25", "--instance-type", "m5.xlarge",
        "--datapipeline-roles", "--log-uri", "s3://mybucket/logs/", "--region", "us-east-1"]
    mapped = rows(result.mapped)
    assert mapped["DDBDestinationTable.writeThroughputPercent"].where == "--write-percent 0.25"
    assert "--mode merge" in mapped["TableLoadActivity.step (DynamoDBImport)"].where


@pytest.mark.parametrize("name", ["export-template.json", "import-template.json"])
def test_the_api_form_gives_the_same_command_as_the_file_form(name):
    doc = load(name)
    assert run(api_form(doc)).argv == run(doc).argv


def test_every_field_of_the_definition_is_either_mapped_or_not_carried_over():
    doc = load("export-daily-2014.json")
    result = run(doc, {"myDDBTableName": "Orders"})
    accounted = {r.field.split(" ")[0].split("[")[0] for r in result.mapped + result.dropped}
    for obj in doc["objects"]:
        for key in obj:
            if key not in ("id", "name", "type", "input", "output", "runsOn", "schedule"):
                assert f"{obj['id']}.{key}" in accounted, (obj["id"], key)


# --- parameters --------------------------------------------------------------------------------


def test_parameters_take_their_defaults_and_overriding_values_win_in_order():
    doc = load("export-template.json")
    del doc["values"]["myDDBReadThroughputRatio"], doc["values"]["myDDBRegion"]
    plain = run(doc)
    assert plain.argv[plain.argv.index("--read-percent") + 1] == "0.25"  # the default
    assert plain.argv[-2:] == ["--region", "us-east-1"]
    from_file = {"myDDBReadThroughputRatio": "0.4", "myDDBRegion": "eu-west-1"}
    from_cli = {"myDDBReadThroughputRatio": "0.8"}
    result = run(doc, from_file, from_cli)
    assert result.argv[result.argv.index("--read-percent") + 1] == "0.8"
    assert result.argv[-2:] == ["--region", "eu-west-1"]


def test_a_parameter_without_value_or_default_is_named():
    doc = load("export-template.json")
    del doc["values"]
    result = run(doc)
    assert not result.migrated and not result.argv
    assert "--parameter-value myOutputS3Loc=VALUE" in result.problems[0]


def test_parameter_values_files_and_flags_on_the_command_line(tmp_path, capsys):
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"values": {"myDDBTableName": "Invoices",
                                             "myDDBReadThroughputRatio": "0.3"}}))
    code = main(["migrate", "--definition", str(DATA / "export-daily-2014.json"),
                 "--parameter-values", str(values), "--parameter-value",
                 "myDDBReadThroughputRatio=0.6", "--name", "invoices-daily"])
    out = capsys.readouterr().out
    assert code == 0
    assert ("ddbpipe schedule create --name invoices-daily --cron 'rate(1 day)' export "
            "--table Invoices --to s3://backups-example/dynamodb --read-percent 0.6") in out


# --- the older step form, schedules ------------------------------------------------------------


def test_older_dynamodbexport_step_with_format_scheduled_start_time_is_a_daily_schedule():
    result = run(load("export-daily-2014.json"), {"myDDBTableName": "Orders"})
    assert result.migrated and not result.run_once
    assert result.argv == [
        "schedule", "create", "--name", "orders-backup", "--cron", "rate(1 day)", "export",
        "--table", "Orders", "--to", "s3://backups-example/dynamodb", "--read-percent", "0.2",
        "--instance-type", "m5.xlarge", "--core-count", "1", "--subnet-id", "subnet-0123abcd",
        "--datapipeline-roles", "--log-uri", "s3://backups-example/datapipeline-logs/",
        "--retries", "2", "--timeout", "120", "--region", "eu-west-1"]
    mapped, dropped = rows(result.mapped), rows(result.dropped)
    assert mapped["EmrClusterForBackup.terminateAfter"].where == "--timeout 120 (minutes)"
    assert mapped["TableBackupActivity.maximumRetries"].where.startswith("--retries 2: ")
    assert "m1.medium is retired" in mapped["EmrClusterForBackup.coreInstanceType"].where
    assert {"EmrClusterForBackup.amiVersion", "EmrClusterForBackup.keyPair",
            "TableBackupActivity.onFail", "FailureNotify.topicArn"} <= set(dropped)
    assert "SNS" in dropped["FailureNotify.topicArn"].where


def with_schedule(**fields: str) -> dict[str, Any]:
    doc = load("export-daily-2014.json")
    doc["values"] = {"myDDBTableName": "Orders"}
    sched_obj = next(o for o in doc["objects"] if o["id"] == "DefaultSchedule")
    sched_obj.pop("startAt")
    sched_obj.update(fields)
    return doc


def test_one_occurrence_is_a_one_off_run():
    result = run(with_schedule(period="1 Day", startDateTime="2024-02-01T03:00:00",
                               occurrences="1"))
    assert result.migrated and result.run_once
    assert result.argv[:2] == ["emr", "export"] and "--cron" not in result.argv
    assert "--timeout" in result.argv  # emr export has it too
    assert rows(result.mapped)["DefaultSchedule.occurrences"].where.startswith("a one-off run")
    assert {"DefaultSchedule.period", "DefaultSchedule.startDateTime"} <= set(rows(result.dropped))


def test_recurring_schedule_keeps_the_start_time_of_day_and_carries_the_end_date():
    result = run(with_schedule(period="1 Day", startDateTime="2024-02-01T03:30:00",
                               endDateTime="2027-01-01T00:00:00"))
    assert result.argv[result.argv.index("--cron") + 1] == "cron(30 3 * * ? *)"
    assert "--start-date" not in result.argv  # passed: Scheduler refuses a start in the past
    assert result.argv[result.argv.index("--end-date") + 1] == "2027-01-01T00:00:00"
    assert rows(result.mapped)["DefaultSchedule.endDateTime"].where.startswith(
        "--end-date 2027-01-01T00:00:00")


def test_a_start_date_to_come_is_carried_with_the_rate():
    result = run(with_schedule(period="5 Hours", startDateTime="2026-07-04T01:00:00"))
    assert result.argv[result.argv.index("--cron") + 1] == "rate(5 hours)"
    assert result.argv[result.argv.index("--start-date") + 1] == "2026-07-04T01:00:00"
    # What ddbpipe prints, `schedule create` takes: the dates land in the request as UTC.
    start, end = sched.check_dates("2026-07-04T01:00:00", "2027-01-01T00:00:00Z",
                                   now=NOW.replace(tzinfo=timezone.utc))
    assert (start, end) == ("2026-07-04T01:00:00Z", "2027-01-01T00:00:00Z")


def test_a_pipeline_whose_end_date_has_passed_is_not_migrated():
    result = run(with_schedule(period="1 Day", startDateTime="2024-02-01T03:30:00",
                               endDateTime="2025-01-01T00:00:00"))
    assert not result.migrated and not result.argv
    assert "DefaultSchedule.endDateTime 2025-01-01T00:00:00 has passed" in result.problems[0]


@pytest.mark.parametrize("start, end, message", [
    ("2026-05-01T00:00:00", None, "--start-date 2026-05-01T00:00:00 is in the past"),
    (None, "2026-05-01T00:00:00", "--end-date 2026-05-01T00:00:00 is not after the present"),
    ("2026-08-01T00:00:00", "2026-07-01T00:00:00", "is not after the start date"),
    ("2026-08-01 00:00", None, "is not a UTC date-time"),
])
def test_schedule_dates_the_scheduler_would_refuse_are_refused_first(start, end, message):
    with pytest.raises(ConfigError, match=message):
        sched.check_dates(start, end, now=NOW.replace(tzinfo=timezone.utc))


@pytest.mark.parametrize("text, start, expected", [
    ("1 Day", None, "rate(1 day)"),
    ("6 Hours", None, "rate(6 hours)"),
    ("15 minutes", None, "rate(15 minutes)"),
    ("1 Week", None, "rate(7 days)"),
    ("2 weeks", None, "rate(14 days)"),
    ("1 Week", "2024-01-31T03:15:00", "cron(15 3 ? * WED *)"),
    ("6 Hours", "2024-01-31T03:15:00", "cron(15 3/6 * * ? *)"),
    ("5 Hours", "2024-01-31T03:15:00", "rate(5 hours)"),
    ("1 Month", "2024-01-15T02:00:00", "cron(0 2 15 * ? *)"),
])
def test_periods_become_scheduler_expressions(text, start, expected):
    expr = period.expression(text, period.parse_start(start) if start else None)
    assert expr.text == expected
    assert sched.check_expression(expr.text) == expected


@pytest.mark.parametrize("text", ["1 Fortnight", "0 days", "daily", "1 Month"])
def test_periods_ddbpipe_cannot_express_are_refused(text):
    with pytest.raises(period.BadPeriod):
        period.expression(text, None)


# --- not migratable, bad input -----------------------------------------------------------------


def test_a_shell_command_pipeline_with_a_precondition_is_not_migratable(capsys):
    code = main(["migrate", "--definition", str(DATA / "shell-command.json")])
    out = capsys.readouterr().out
    assert code == 2
    assert "not migratable" in out and "ShellCommandActivity" in out and "precondition" in out
    assert not any(line.startswith("ddbpipe ") for line in out.splitlines())


def test_an_emr_activity_running_something_else_is_not_migratable():
    doc = load("export-template.json")
    act = next(o for o in doc["objects"] if o["id"] == "TableBackupActivity")
    act["step"] = "s3://mybucket/jobs/etl.jar,com.example.Etl,#{output.directoryPath}"
    result = run(doc)
    assert not result.migrated and "com.example.Etl" in result.problems[0]


def test_several_definitions_go_on_after_one_that_is_not_migratable(capsys):
    code = main(["migrate", "--definition", str(DATA / "shell-command.json"),
                 "--definition", str(DATA / "import-template.json")])
    out = capsys.readouterr().out
    assert code == 2
    assert "not migratable" in out and "ddbpipe emr import --from" in out


def test_bad_json_is_one_line_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "pipeline.json"
    bad.write_text('{"objects": [')
    assert main(["migrate", "--definition", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "not valid JSON" in err
    assert main(["migrate", "--definition", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_json_that_is_not_a_definition_is_one_line_naming_the_file(tmp_path, capsys):
    other = tmp_path / "other.json"
    other.write_text('{"pipelines": []}')
    assert main(["migrate", "--definition", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(other) in err and "objects" in err


def test_a_definition_without_log_uri_takes_migrates_own_log_uri():
    doc = load("export-template.json")
    default = next(o for o in doc["objects"] if o["id"] == "Default")
    del default["pipelineLogUri"]
    assert "pipelineLogUri" in run(doc).problems[0]
    result = run(doc, log_uri="s3://mybucket/emr-logs/")
    assert result.argv[result.argv.index("--log-uri") + 1] == "s3://mybucket/emr-logs/"


def test_custom_roles_become_the_role_flags():
    doc = copy.deepcopy(load("import-template.json"))
    default = next(o for o in doc["objects"] if o["id"] == "Default")
    default.update(role="OpsEmrServiceRole", resourceRole="OpsEmrNodes")
    argv = run(doc).argv
    assert "--datapipeline-roles" not in argv
    assert argv[argv.index("--service-role") + 1] == "OpsEmrServiceRole"
    assert argv[argv.index("--instance-profile") + 1] == "OpsEmrNodes"


def test_m1_types_map_to_the_current_generation():
    assert d.resolve_instance_type("m1.medium")[0] == "m5.xlarge"
    assert d.resolve_instance_type("m1.xlarge")[0] == "m5.xlarge"


@pytest.mark.parametrize("old", sorted(d.RETIRED_INSTANCE_TYPES))
def test_every_retired_type_maps_to_one_ddbpipe_can_size_executors_for(old):
    executors.plan(d.resolve_instance_type(old)[0], 1)  # refuses a type it cannot size


# --- the printed command is one ddbpipe accepts ------------------------------------------------


@pytest.mark.parametrize("name, values", [
    ("export-template.json", {}),
    ("import-template.json", {}),
    ("export-daily-2014.json", {"myDDBTableName": "Orders"}),
])
def test_the_printed_command_parses_with_the_real_cli_parser(name, values, capsys):
    flags = [a for k, v in values.items() for a in ("--parameter-value", f"{k}={v}")]
    assert main(["migrate", "--definition", str(DATA / name), *flags]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("ddbpipe "))
    argv = shlex.split(line)[1:]
    args = build_parser().parse_args(argv)
    result = run(load(name), values, name=Path(name).stem)
    assert argv == result.argv
    if result.run_once:
        assert args.func is emr._run
    else:
        assert args.func is schedule._create and args.cron == "rate(1 day)"
        assert args.name == "export-daily-2014"
    assert args.kind == result.kind and args.region and args.log_uri
    assert args.datapipeline_roles
    if result.kind == "export":
        assert args.table == ["Orders"] and args.to and 0.1 <= args.read_percent <= 1
    else:
        assert args.table == "Orders" and args.source and 0.1 <= args.write_percent <= 1
    # ... and pass the checks `schedule create` / `emr export|import` make before any AWS call
    aws = resolve(args.region, None, None, env={})
    job = emr.job_spec(result.kind, args, aws)
    assert job.tables == ("Orders",) and job.region == args.region
    options = emr.cluster_options(args)
    assert options.service_role == d.DATAPIPELINE_SERVICE_ROLE
    assert options.instance_type == "m5.xlarge"
    executors.plan(options.instance_type, 1)
    if not result.run_once:
        sched.check_name(args.name)
        sched.check_expression(args.cron)
        runlimits.check_minutes(args.timeout)


def test_an_import_from_a_folder_named_by_the_run_time_is_not_migratable():
    doc = load("import-template.json")
    node = next(o for o in doc["objects"] if o["id"] == "S3InputDataNode")
    node["directoryPath"] = "#{myInputS3Loc}/#{format(@scheduledStartTime, 'YYYY-MM-dd')}"
    result = run(doc)
    assert not result.migrated and "depends on the run's time" in result.problems[0]


def test_a_step_with_literal_arguments_still_accounts_for_the_node_fields():
    doc = load("export-template.json")
    act = next(o for o in doc["objects"] if o["id"] == "TableBackupActivity")
    act["step"] = ("s3://bucket/tools.jar,org.apache.hadoop.dynamodb.tools.DynamoDBExport,"
                   "s3://other/backups/#{format(@scheduledStartTime,'YYYY-MM-dd-HH-mm-ss')},"
                   "Orders,0.5")
    result = run(doc)
    assert result.argv[result.argv.index("--to") + 1] == "s3://other/backups"
    assert rows(result.mapped)["TableBackupActivity.step[1]"].where == "--table Orders"
    dropped = rows(result.dropped)
    assert "do not read it" in dropped["S3BackupLocation.directoryPath"].where
    assert "do not read it" in dropped["DDBSourceTable.tableName"].where


def test_step_commas_inside_expressions_and_escaped_commas_do_not_split():
    step = "a.jar,Main,s3://b/#{format(@scheduledStartTime, 'YYYY')}/x,T\\,1,0.5"
    assert mapping.split_step(step) == [
        "a.jar", "Main", "s3://b/#{format(@scheduledStartTime, 'YYYY')}/x", "T,1", "0.5"]


def test_a_step_without_ratio_takes_the_default_percent_both_tools_share():
    doc = load("import-template.json")
    act = next(o for o in doc["objects"] if o["id"] == "TableLoadActivity")
    act["step"] = act["step"].rsplit(",", 1)[0]
    result = run(doc)
    assert result.migrated and "--write-percent" not in result.argv
    assert build_parser().parse_args(result.argv).write_percent == 0.5
    dropped = rows(result.dropped)
    assert "do not read it" in dropped["DDBDestinationTable.writeThroughputPercent"].where


# --- names and network flags of several pipelines ----------------------------------------------


def test_names_take_the_prefix_and_pipelines_sharing_a_name_their_id():
    from ddbpipe.commands import migrate as cmd

    def source(name: str, pid: str | None) -> Any:
        pipeline = m.Pipeline(pid, name, "SCHEDULED", {}, "us-east-1") if pid else None
        return cmd._Source(pid or name, {}, cmd.schedule_name(name), pipeline)

    sources = [source("orders (prod)", "df-A"), source("orders (prod)", "df-B"),
               source("invoices", "df-C"), source("a" * 80, None)]
    names = [s.name for s in cmd._unique_names(sources, "dp-")]
    assert names == ["dp-orders-prod-df-A", "dp-orders-prod-df-B", "dp-invoices",
                     "dp-" + "a" * 61]
    for name in names:
        sched.check_name(name)


def test_network_flags_go_on_every_command_and_replace_the_definition_subnet():
    from ddbpipe.commands import migrate as cmd

    args = build_parser().parse_args(["migrate", "--all", "--subnet-id", "subnet-new",
                                      "--security-groups", "leader=sg-1,core=sg-2",
                                      "--skip-doctor"])
    argv = run(load("export-daily-2014.json"), {"myDDBTableName": "Orders"}).argv
    assert "subnet-0123abcd" in argv
    out = cmd.with_network(argv, args)
    assert "subnet-0123abcd" not in out and out.count("--subnet-id") == 1
    assert out[-5:] == ["--subnet-id", "subnet-new", "--security-groups",
                        "leader=sg-1,core=sg-2", "--skip-doctor"]
    parsed = build_parser().parse_args(out)
    assert parsed.subnet_id == ["subnet-new"] and parsed.skip_doctor
