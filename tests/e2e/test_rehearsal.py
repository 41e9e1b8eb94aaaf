"""Rehearsal of an EMR run on this machine: what the cluster would run, as it would run it.

1. ``ddbpipe emr export|import --dry-run`` builds the RunJobFlow requests; the launcher's own
   staging code puts the bootstrap, the job and the wheelhouse in (moto) S3 where they say.
2. The bootstrap action runs for real (bash) with the request's arguments in a temporary root
   (DDBPIPE_ROOT) whose ``/usr`` is a fresh venv without pip: it reaches S3 (``aws s3 cp``
   served from moto) and the instance metadata stand-in, nothing else - pip's index and every
   proxy point at a port that records connections, and pip's own log is read.
3. Each step's ``spark-submit`` argv, the cluster's paths mapped to local ones and nothing else
   changed, runs against a Spark standalone master and worker (separate JVMs) with the venv from
   the bootstrap as the job's Python: the export from dynalite to S3, then the import into a
   second table, compared item for item.
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ddbpipe import cli, layout
from ddbpipe.aws import AwsConfig, client
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import staging
from ddbpipe.commands import emr as emr_cmd
from ddbpipe.spark import local_jars
from ddbpipe_dev import sample
from tests.support import rehearsal as r

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ITEMS = 250
#: The instance type whose architecture is this machine's, so its wheels run here.
INSTANCE_TYPE = "m6g.xlarge" if platform.machine() in ("aarch64", "arm64") else "m5.xlarge"


def dry_run(monkeypatch: pytest.MonkeyPatch, run: str, argv: list[str]) -> tuple[d.RunPlan, str]:
    """The plan ``ddbpipe emr ... --dry-run`` prints, and what it printed."""
    seen: list[d.RunPlan] = []
    original = emr_cmd.print_plan

    def keep(plan: d.RunPlan, *args: Any, **kw: Any) -> None:
        seen.append(plan)
        original(plan, *args, **kw)

    monkeypatch.setattr(emr_cmd, "new_run_id", lambda: run)
    monkeypatch.setattr(emr_cmd, "print_plan", keep)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(argv) == 0
    monkeypatch.undo()
    (plan,) = seen
    return plan, out.getvalue()


def printed_request(text: str) -> dict[str, Any]:
    body = text.split("emr.run_job_flow(**request)):\n", 1)[1]
    return dict(json.JSONDecoder().raw_decode(body)[0])


def stage(aws: AwsConfig, plan: d.RunPlan, built: tuple[Path, str]) -> None:
    """What the launcher uploads before RunJobFlow, with its own code."""
    wheel, requirements = built
    uploads = staging.plan_uploads(plan, ROOT, wheel=wheel, requirements=requirements)
    staging.upload(client(aws, "s3"), uploads)


def node_env(aws: AwsConfig, imds: r.Imds, home: Path) -> dict[str, str]:
    """A node's environment: no credentials but the instance profile, the local endpoints."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PIP_", "PYTHON", "SPARK_", "PYSPARK_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                                 "virtual_env")}
    env.update(HOME=str(home), AWS_REGION=aws.region, AWS_DEFAULT_REGION=aws.region,
               AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url,
               AWS_ENDPOINT_URL_S3=str(aws.endpoint("s3")),
               AWS_ENDPOINT_URL_DYNAMODB=str(aws.endpoint("dynamodb")),
               SPARK_LOCAL_IP="127.0.0.1", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost")
    return env


def run_bootstrap(aws: AwsConfig, request: dict[str, Any], node: Path, env: dict[str, str],
                  imds: r.Imds) -> subprocess.CompletedProcess[str]:
    (action,) = request["BootstrapActions"]
    script_uri = action["ScriptBootstrapAction"]["Path"]
    bucket, _, key = script_uri[5:].partition("/")
    script = node / "bootstrap" / d.BOOTSTRAP_SCRIPT
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_bytes(client(aws, "s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    full_env = {**env, "DDBPIPE_ROOT": str(node / "root"), "DDBPIPE_IMDS_URL": imds.url,
                "PATH": f"{node / 'bin'}:{env['PATH']}", "PIP_LOG": str(node / "pip.log"),
                "TMPDIR": str(node / "tmp")}
    (node / "tmp").mkdir(exist_ok=True)
    return subprocess.run(["bash", str(script), *action["ScriptBootstrapAction"]["Args"]],
                          env=full_env, capture_output=True, text=True, timeout=300, check=False,
                          cwd=ROOT)  # the checkout: its ddbpipe/ must not count as installed


def run_step(aws: AwsConfig, request: dict[str, Any], mapping: r.Mapping, env: dict[str, str],
             node: Path) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    (step,) = request["Steps"]
    argv = step["HadoopJarStep"]["Args"]
    s3 = client(aws, "s3")
    # EMR fetches the s3:// job file and staged jars itself; here they are copied where mapped.
    for word in (part for w in argv for part in w.split(",")):
        if word.startswith("s3://") and word.endswith((".py", ".jar")):
            bucket, _, key = word[5:].partition("/")
            local = node / "jobs" / key.rsplit("/", 1)[1]
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            mapping.files[word] = str(local)
    mapped = r.map_step(argv, mapping, d.EMR_CONNECTOR_JAR)
    proc = subprocess.run(mapped, env=env, capture_output=True, text=True, timeout=420,
                          check=False, cwd=node)
    return mapped, proc


def assert_only_paths_changed(original: list[str], mapped: list[str]) -> None:
    """Every word of the step survives; only the mapped ones differ."""
    kept = [w for w in original if w not in ("spark-submit", "yarn")
            and not w.startswith(("s3://", "spark.pyspark.", d.EMR_CONNECTOR_JAR))]
    rest = iter(mapped)
    assert all(any(w == m for m in rest) for w in kept), (original, mapped)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return emr_cmd.build_artifacts(tmp_path_factory.mktemp("wheel"))


def test_an_emr_run_rehearsed_offline_on_a_standalone_cluster(
        aws: AwsConfig, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        built: tuple[Path, str]) -> None:
    ddb, s3 = client(aws, "dynamodb"), client(aws, "s3")
    source, target, bucket = f"reh-src-{unique}", f"reh-dst-{unique}", f"reh-{unique}"
    s3.create_bucket(Bucket=bucket)
    sample.create_table(ddb, source)
    sample.put_items(ddb, source, sample.sample_items(ITEMS))
    endpoint = ["--region", aws.region]
    cluster = ["--log-uri", f"s3://{bucket}/logs/", "--core-count", "1",
               "--instance-type", INSTANCE_TYPE, "--dry-run"]

    export_plan, printed = dry_run(monkeypatch, "rehearsal-export", [
        "emr", "export", "--table", source, "--to", f"s3://{bucket}/exports", *cluster,
        *endpoint])
    assert printed_request(printed) == export_plan.request  # what the user saw is what runs
    stage(aws, export_plan, built)

    node = tmp_path / "node"
    (node / "root").mkdir(parents=True)
    # The node's /usr: a fresh Python 3.11 without pip (the bootstrap installs pip from its wheel).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(node / "root" / "usr")],
                   check=True)
    python = node / "root" / d.CLUSTER_PYTHON.lstrip("/")
    assert python.exists()
    with r.Imds(aws.region) as imds, r.Trap() as trap:
        env = node_env(aws, imds, node / "home")
        (node / "home").mkdir()
        r.aws_cli(node / "bin", sys.executable, ROOT, node / "aws.log")
        boot = run_bootstrap(aws, export_plan.request, node, {**env, **trap.env()}, imds)
        assert boot.returncode == 0, boot.stderr[-4000:]

        # Reached: S3 (only `aws s3 cp`, only the run's staging prefix) and IMDSv2; nothing else.
        assert trap.connections == 0
        pip_log = (node / "pip.log").read_text()
        assert "Looking in links" in pip_log and "Looking in indexes" not in pip_log
        # pip names the index it was given only to say it ignores it (--no-index), each run
        web = [line for line in pip_log.splitlines() if "http" in line]
        assert web and all(f"Ignoring indexes: {trap.url}/simple/" in line for line in web), web
        assert "Starting new HTTP" not in pip_log
        calls = (node / "aws.log").read_text().splitlines()
        prefix = export_plan.staging.wheelhouse_uri
        assert calls and all(c.startswith(f"aws s3 cp --only-show-errors --region {aws.region} "
                                          f"{prefix}") for c in calls), calls
        assert imds.refused == [] and imds.requests[0] == "PUT /latest/api/token"
        assert "has no pip; installing pip-" in boot.stderr
        version = subprocess.run([str(python), "-I", "-c", "import ddbpipe, boto3; "
                                  "print(ddbpipe.__file__, boto3.__version__)"],
                                 capture_output=True, text=True, check=True).stdout
        assert str(node / "root") in version  # the wheel's copy, not this checkout's
        pins = dict(p.split("==") for p in staging.pinned_requirements(
            staging.wheel_requires(built[0])))
        assert version.split()[1] == pins["boto3"]

        jars, first = local_jars()
        spark_home = Path(__import__("pyspark").__file__).parent
        conf_dir = node / "spark-conf"  # /etc/spark/conf: the request's spark-defaults, if any
        conf_dir.mkdir()
        defaults = r.spark_defaults(export_plan.request)
        (conf_dir / "spark-defaults.conf").write_text(
            "".join(f"{k} {v}\n" for k, v in defaults.items()))
        spark_env = {**env, "SPARK_HOME": str(spark_home), "SPARK_CONF_DIR": str(conf_dir)}
        mapping = r.Mapping(str(spark_home / "bin" / "spark-submit"), "", node / "root",
                            jars, first, {})
        # The worker offers what one core node's executor takes (the request's cores and heap),
        # or spark-submit would wait for resources forever; cores beyond this machine's are fine.
        cores = max(2, int(defaults.get("spark.executor.cores", "2")))
        heap_mb = int(defaults.get("spark.executor.memory", "1024m").rstrip("m"))
        with r.SparkStandalone(spark_home, node / "spark", spark_env, cores=cores,
                               memory=f"{heap_mb + 1024}m") as spark:
            mapping = r.Mapping(mapping.spark_submit, spark.url, mapping.root, jars, first, {})
            original = export_plan.request["Steps"][0]["HadoopJarStep"]["Args"]
            mapped, export = run_step(aws, export_plan.request, mapping, spark_env, node)
            assert_only_paths_changed(original, mapped)
            assert export.returncode == 0, (export.stdout + export.stderr)[-5000:]
            assert f"{source}: exported {ITEMS} items" in export.stdout + export.stderr

            manifest = next(o["Key"] for o in s3.list_objects_v2(
                Bucket=bucket, Prefix="exports/")["Contents"]
                if o["Key"].endswith("/" + layout.MANIFEST))
            folder = f"s3://{bucket}/{manifest.rsplit('/', 1)[0]}"

            import_plan, printed = dry_run(monkeypatch, "rehearsal-import", [
                "emr", "import", "--from", folder, "--table", target, "--create-table",
                *cluster, *endpoint])
            stage(aws, import_plan, built)
            again = run_bootstrap(aws, import_plan.request, node, {**env, **trap.env()}, imds)
            assert again.returncode == 0, again.stderr[-3000:]
            assert "already installed from this wheelhouse" in again.stderr
            assert trap.connections == 0
            mapped, imported = run_step(aws, import_plan.request, mapping, spark_env, node)
            assert imported.returncode == 0, (imported.stdout + imported.stderr)[-5000:]
            assert (f"{target}: imported {ITEMS} items (read {ITEMS}, written {ITEMS}, skipped 0)"
                    in imported.stdout + imported.stderr)
            # Executors ran in the worker's JVMs, not the driver's.
            executors = list((node / "spark" / "work").glob("app-*/*/stderr"))
            assert executors, spark.logs()

    # The instance profile (IMDS) was the only source of credentials for the job and connector.
    assert any(req.startswith("GET /latest/meta-data/iam/security-credentials/")
               for req in imds.requests)
    by_key = {i["pk"]["S"]: i for i in sample.scan_all(ddb, target)}
    assert len(by_key) == ITEMS
    assert by_key == {i["pk"]["S"]: i for i in sample.scan_all(ddb, source)}
