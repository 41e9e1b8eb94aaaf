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
