"""Run ddbpipe's Spark jobs on Amazon EMR: the package ``ddbpipe.cluster``.

This folder is the package ``ddbpipe.cluster`` (``ddbpipe/cluster`` links here), so nothing
installs as a top-level ``cluster``. One module per responsibility:

- ``definition``: the requests (RunJobFlow, AddJobFlowSteps, step argv, bootstrap actions,
  core-node arithmetic) as plain data; talks to nothing.
- ``sizing``: reads the tables for the core-node count.
- ``staging``: the wheel, pinned requirements, bootstrap and job file, and their upload under
  ``<log-uri>/ddbpipe-runs/<run>/``.
- ``emr_errors``: EMR's refusals (botocore error codes) as ddbpipe errors that say what to do.
- ``monitor``: waits for the steps, reports failures (FailureDetails, stderr.gz), stops runs.
- ``launcher``: one run end to end: check, upload, start the cluster or add steps, wait.
- ``iam``: the roles a cluster needs, and least-privilege user policies.
- ``schedule``: a RunJobFlow request as an EventBridge Scheduler schedule.
"""
