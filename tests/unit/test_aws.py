import pickle

import pytest

from ddbpipe.aws import AwsConfig, resolve
from ddbpipe.errors import ConfigError, DdbpipeError, TableNotFound


def test_one_endpoint_url_serves_every_service():
    cfg = resolve("eu-west-1", "http://localhost:4566/", env={})
    assert cfg.region == "eu-west-1"
    assert cfg.endpoint("dynamodb") == cfg.endpoint("s3") == "http://localhost:4566"
    assert cfg.is_local


def test_service_variables_beat_the_common_one():
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
           "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000", "AWS_REGION": "ap-south-1"}
    cfg = resolve(env=env)
    assert cfg.endpoint("dynamodb") == "http://127.0.0.1:8000"
    assert cfg.endpoint("s3") == "http://127.0.0.1:4566"
    assert cfg.region == "ap-south-1"


def test_flag_beats_variables_and_region_flag_beats_env():
    env = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1", "AWS_REGION": "ap-south-1"}
    cfg = resolve("us-west-2", "http://127.0.0.1:2", env=env)
    assert cfg.endpoint("s3") == "http://127.0.0.1:2"
    assert cfg.region == "us-west-2"


def test_no_endpoint_means_aws():
    cfg = resolve("us-east-1", env={})
    assert cfg.endpoint("dynamodb") is None and not cfg.is_local


def test_bad_endpoint_is_named():
    with pytest.raises(ConfigError, match="--endpoint-url 'localhost:4566'"):
        resolve("us-east-1", "localhost:4566", env={})


def test_config_pickles_without_secrets():
    cfg = resolve("us-east-1", "http://127.0.0.1:9", env={"AWS_SECRET_ACCESS_KEY": "s3cr3t"})
    data = pickle.dumps(cfg)
    assert pickle.loads(data) == cfg
    assert b"s3cr3t" not in data
    assert isinstance(cfg, AwsConfig)


def test_errors_survive_pickling():
    err = TableNotFound("Table 'x' does not exist.", "Check the name.")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, DdbpipeError) and str(back) == str(err)


def test_error_code_reads_the_aws_code_and_nothing_else():
    import botocore.exceptions

    from ddbpipe.aws import error_code

    err = botocore.exceptions.ClientError({"Error": {"Code": "NoSuchKey", "Message": "m"}},
                                          "GetObject")
    assert error_code(err) == "NoSuchKey"
    assert error_code(botocore.exceptions.ClientError({}, "GetObject")) == ""
    assert error_code(ValueError("NoSuchKey")) == ""


def test_a_process_keeps_one_session_per_configuration(monkeypatch):
    from ddbpipe import aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDONE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "one")
    cfg = AwsConfig(region="eu-west-1")
    first = aws.session(cfg)
    assert aws.session(AwsConfig(region="eu-west-1")) is first
    assert aws.session(AwsConfig(region="us-east-1")) is not first
    assert aws.credentials(cfg).access_key == "AKIDONE"


def test_new_keys_in_the_environment_make_a_new_session(monkeypatch):
    """A session caches the credentials it resolved: changed keys must not be served stale."""
    from ddbpipe import aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDONE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "one")
    cfg = AwsConfig(region="eu-west-1")
    before = aws.session(cfg)
    assert aws.frozen_credentials(cfg) == ("AKIDONE", "one", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTWO")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok")
    assert aws.session(cfg) is not before
    assert aws.frozen_credentials(cfg) == ("AKIDTWO", "one", "tok")


def test_clients_made_on_many_threads_at_once_all_work(monkeypatch):
    """boto3 builds clients from a session's caches, which are not thread-safe: client()
    makes them one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from ddbpipe import aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDONE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "one")
    cfg = AwsConfig(region="eu-west-1", endpoints={"s3": "http://127.0.0.1:9"})
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda i: aws.client(cfg, ("s3", "dynamodb")[i % 2]), range(32)))
    assert {c.meta.service_model.service_name for c in made} == {"s3", "dynamodb"}
    assert {c.meta.endpoint_url for c in made if c.meta.service_model.service_name == "s3"} \
        == {"http://127.0.0.1:9"}


def test_a_forked_child_starts_with_no_sessions(monkeypatch):
    import os

    from ddbpipe import aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDONE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "one")
    aws.session(AwsConfig(region="eu-west-1"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how many sessions it inherited, and leave at once
        os.write(write, str(len(aws._SESSIONS)).encode())
        os._exit(0)
    os.close(write)
    inherited = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert inherited == b"0"
    assert aws._SESSIONS
