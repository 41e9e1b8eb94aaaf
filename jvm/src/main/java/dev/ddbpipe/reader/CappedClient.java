package dev.ddbpipe.reader;

import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.dynamodb.DynamoDBClient;
import org.apache.hadoop.dynamodb.DynamoDBFibonacciRetryer.RetryResult;
import org.apache.hadoop.dynamodb.filter.DynamoDBQueryFilter;
import org.apache.hadoop.mapred.Reporter;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.ScanResponse;

/**
 * The connector's DynamoDB client with each Scan's Limit capped so a page stays near
 * {@code pageBytes} on the wire. The rate controller still grants the read units; a page that
 * uses fewer gives the rest back to its token bucket, as any short page does.
 */
final class CappedClient extends DynamoDBClient {
  private final long pageBytes;
  private final ItemSize itemSize;

  CappedClient(Configuration conf, long pageBytes, ItemSize itemSize) {
    super(conf);
    this.pageBytes = pageBytes;
    this.itemSize = itemSize;
  }

  long cap(long limit) {
    long items = (long) Math.floor(pageBytes / itemSize.average());
    return Math.max(1, Math.min(limit, items));
  }

  @Override
  public RetryResult<ScanResponse> scanTable(String tableName, DynamoDBQueryFilter filter,
      Integer segment, Integer totalSegments, Map<String, AttributeValue> exclusiveStartKey,
      long limit, Reporter reporter) {
    return super.scanTable(tableName, filter, segment, totalSegments, exclusiveStartKey,
        cap(limit), reporter);
  }
}
