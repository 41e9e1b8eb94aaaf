"""Spark job: import an export folder into a DynamoDB table (the Data Pipeline "Import DynamoDB
backup data from S3").

    spark-submit jobs/import_table.py --from s3://BUCKET/PREFIX/RUN-FOLDER --table T \
        [--write-percent 0.5] [--write-capacity WCU] [--mode merge|replace --yes] \
        [--create-table] [--skip-validation] [--resume] [--state-prefix S3_URI] [--region R]

argv -> ImportConfig -> ddbpipe.importer.run(spark, cfg).
"""

import sys

from ddbpipe.importer import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
