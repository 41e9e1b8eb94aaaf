"""Spark job: export DynamoDB tables to S3 (the Data Pipeline "Export DynamoDB table to S3").

    spark-submit [--jars <connector>] jobs/export_table.py --table T [--table T2] \
        --to s3://BUCKET[/PREFIX] [--read-percent 0.5] [--read-capacity RCU] [--region R]

argv -> ExportConfig -> ddbpipe.export.run(spark, cfg); the logic lives in the ddbpipe package,
installed on every node by bootstrap/ on EMR.
"""

import sys

from ddbpipe.export import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
