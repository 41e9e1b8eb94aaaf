"""Spark job: rewrite an export folder in another format (``ddbpipe convert``).

    spark-submit jobs/convert_folder.py --from s3://BUCKET/export --to s3://BUCKET/converted \
        [--format dp|dynamodb-json|ion] [--compress] [--region R]

argv -> ConvertConfig -> ddbpipe.convert.run(spark, cfg); the logic lives in the ddbpipe package.
"""

import sys

from ddbpipe.convert import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
