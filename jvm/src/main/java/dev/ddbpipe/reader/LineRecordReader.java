package dev.ddbpipe.reader;

import org.apache.hadoop.dynamodb.DynamoDBItemWritable;
import org.apache.hadoop.dynamodb.preader.DynamoDBRecordReaderContext;
import org.apache.hadoop.dynamodb.read.DefaultDynamoDBRecordReader;

/** The connector's record reader, handing out {@link ItemLineWritable}s (Spark reuses one). */
final class LineRecordReader extends DefaultDynamoDBRecordReader {
  LineRecordReader(DynamoDBRecordReaderContext context) {
    super(context);
  }

  @Override
  public DynamoDBItemWritable createValue() {
    return new ItemLineWritable();
  }
}
