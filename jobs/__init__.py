"""The spark-submit entry points, one per job: argv -> frozen config -> ``run(spark, cfg)``.

This folder is the package ``ddbpipe.jobs`` (``ddbpipe/jobs`` links here), so the wheel carries
the job files and the launcher uploads the very file it ships as the EMR step's script.
"""
