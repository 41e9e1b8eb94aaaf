"""ddbpipe: move DynamoDB tables to S3 and back with Spark and the emr-dynamodb-connector."""

__version__ = "0.1.0"
