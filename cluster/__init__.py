"""Run ddbpipe's Spark jobs on Amazon EMR: the package ``ddbpipe.cluster``.

This folder is the package ``ddbpipe.cluster`` (``ddbpipe/cluster`` links here), so nothing
installs as a top-level ``cluster``. ``definition`` builds the requests (RunJobFlow,
AddJobFlowSteps, step argv, bootstrap actions, core-node sizing) as plain data; ``launcher``
uploads the run's files, starts the cluster or adds steps, waits and reports; ``iam`` creates the
roles and prints user policies; ``schedule`` turns a RunJobFlow request into an EventBridge
Scheduler schedule.
"""
