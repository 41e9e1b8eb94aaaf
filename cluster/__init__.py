"""Run ddbpipe's Spark jobs on Amazon EMR.

``cluster.definition`` builds the requests (RunJobFlow, AddJobFlowSteps, step argv, bootstrap
actions, core-node sizing) as plain data; ``cluster.launcher`` uploads the run's files, starts the
cluster or adds steps, waits and reports; ``cluster.iam`` creates the roles and prints user
policies; ``cluster.schedule`` turns a RunJobFlow request into an EventBridge Scheduler schedule.
"""
