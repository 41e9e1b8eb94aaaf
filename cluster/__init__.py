"""Run ddbpipe's Spark jobs on Amazon EMR: the package ``ddbpipe.cluster``.

This folder is the package ``ddbpipe.cluster`` (``ddbpipe/cluster`` links here), so nothing
installs as a top-level ``cluster``. One module per responsibility:

- ``definition``: the requests (RunJobFlow, AddJobFlowSteps, step argv, bootstrap actions,
  core-node arithmetic) as plain data; talks to nothing.
- ``sizing``: reads the tables for the core-node count.
- ``staging``: the wheel, pinned requirements, bootstrap and job file, and their upload under
  ``<staging-uri>/runs/<run>/`` (default staging: ``s3://<log bucket>/ddbpipe-staging/``).
- ``emr_errors``: EMR's refusals (botocore error codes) as ddbpipe errors that say what to do.
- ``monitor``: waits for the steps, reports failures (FailureDetails, stderr.gz), stops runs.
- ``launcher``: one run end to end: check, upload, start the cluster or add steps, wait.
- ``iam``: the roles a cluster needs, and least-privilege user policies.
- ``schedule``: a RunJobFlow request as an EventBridge Scheduler schedule.
- ``deadletter``: the schedules' SQS dead-letter queue (given or created).
- ``executors``: the ``spark-defaults`` (executor cores, heap, overhead, parallelism, driver)
  from the instance type and the connector's page buffer; pure.
- ``runlimits``: the step's time limit on the cluster (coreutils ``timeout``); pure.
- ``places``: the staging folder beside (never inside) the log folder; pure.
"""
