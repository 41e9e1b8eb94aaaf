"""Pipelines read from an account through the Data Pipeline API.

``ListPipelines`` (paginated by ``marker``) for ``--all``, ``DescribePipelines`` (at most 25 ids a
call) for each pipeline's name and state, ``GetPipelineDefinition`` for its objects, parameters and
parameter values in the API form :func:`ddbpipe.migrate.definition.parse` reads. The definition
read is the latest saved one (the API's default version), which is what the console shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from ddbpipe.aws import error_code
from ddbpipe.errors import ConfigError

#: DescribePipelines takes "as many as 25 identifiers in a single call".
DESCRIBE_BATCH = 25
#: The regions Data Pipeline ran in; elsewhere its endpoint does not answer.
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "ap-southeast-2")


@dataclass(frozen=True)
class Pipeline:
    id: str
    name: str
    state: str
    definition: dict[str, Any]
    region: str

    @property
    def source(self) -> str:
        return f"{self.id} ({self.name})"

    @property
    def deactivate(self) -> str:
        return (f"aws datapipeline deactivate-pipeline --pipeline-id {self.id} "
                f"--region {self.region}")


def _failed(err: Exception, what: str, region: str) -> ConfigError:
    import botocore.exceptions

    if isinstance(err, botocore.exceptions.EndpointConnectionError):
        return ConfigError(f"Data Pipeline does not answer in {region}: {what} failed.",
                           f"Pass the --region your pipelines are in ({', '.join(REGIONS)}).")
    code = error_code(err)
    if code in ("PipelineNotFoundException", "PipelineDeletedException"):
        return ConfigError(f"{what}: no such pipeline in {region} ({code}).",
                           "Check the id with `aws datapipeline list-pipelines --region "
                           f"{region}`.")
    if code in ("AccessDeniedException", "UnrecognizedClientException"):
        return ConfigError(f"{what} was refused ({code}).",
                           "Use credentials allowed datapipeline:ListPipelines, "
                           "DescribePipelines and GetPipelineDefinition.")
    return ConfigError(f"{what} failed: {err}.", "Check the region and your credentials.")


def list_ids(dp: Any, region: str) -> list[str]:
    """Every pipeline id of the account in ``dp``'s region, in the order the API lists them."""
    import botocore.exceptions

    ids: list[str] = []
    try:
        for page in dp.get_paginator("list_pipelines").paginate():
            ids += [p["id"] for p in page.get("pipelineIdList", [])]
    except (botocore.exceptions.ClientError, botocore.exceptions.EndpointConnectionError) as err:
        raise _failed(err, "ListPipelines", region) from None
    return list(dict.fromkeys(ids))


def _batches(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), DESCRIBE_BATCH):
        yield ids[start:start + DESCRIBE_BATCH]


def _state(fields: Iterable[dict[str, Any]]) -> str:
    for f in fields:
        if f.get("key") == "@pipelineState":
            return str(f.get("stringValue", ""))
    return ""


def read(dp: Any, ids: Sequence[str], region: str) -> list[Pipeline]:
    """Name, state and definition of each pipeline in ``ids`` (each read once, in order)."""
    import botocore.exceptions

    ids = list(dict.fromkeys(ids))
    described: dict[str, dict[str, Any]] = {}
    try:
        for batch in _batches(ids):
            for desc in dp.describe_pipelines(pipelineIds=list(batch))["pipelineDescriptionList"]:
                described[desc["pipelineId"]] = desc
    except (botocore.exceptions.ClientError, botocore.exceptions.EndpointConnectionError) as err:
        raise _failed(err, f"DescribePipelines of {', '.join(ids)}", region) from None
    pipelines = []
    for pid in ids:
        desc = described.get(pid)
        if desc is None:
            raise ConfigError(f"Pipeline {pid} is not in {region}.",
                              "Check the id with `aws datapipeline list-pipelines --region "
                              f"{region}`.")
        try:
            doc = dp.get_pipeline_definition(pipelineId=pid)
        except (botocore.exceptions.ClientError,
                botocore.exceptions.EndpointConnectionError) as err:
            raise _failed(err, f"GetPipelineDefinition of {pid}", region) from None
        definition = {key: doc[key] for key in ("pipelineObjects", "parameterObjects",
                                                 "parameterValues") if key in doc}
        pipelines.append(Pipeline(pid, str(desc.get("name", pid)),
                                  _state(desc.get("fields", [])), definition, region))
    return pipelines
