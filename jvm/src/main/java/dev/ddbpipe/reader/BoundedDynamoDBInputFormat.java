package dev.ddbpipe.reader;

import java.io.IOException;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.apache.hadoop.dynamodb.DynamoDBConstants;
import org.apache.hadoop.dynamodb.DynamoDBItemWritable;
import org.apache.hadoop.dynamodb.read.DynamoDBInputFormat;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapred.InputSplit;
import org.apache.hadoop.mapred.JobConf;
import org.apache.hadoop.mapred.RecordReader;
import org.apache.hadoop.mapred.Reporter;

/**
 * The connector's DynamoDBInputFormat (same splits, segments, client, retries, rate controller and
 * record reader) with the pages a task holds bounded in bytes instead of the connector's 600
 * pages. Settings: {@value #BUFFER_BYTES} (default {@value #DEFAULT_BUFFER_BYTES}) and
 * {@value #PAGE_BYTES} (default a 64th of the buffer).
 */
public class BoundedDynamoDBInputFormat extends DynamoDBInputFormat {
  public static final String BUFFER_BYTES = "ddbpipe.read.buffer.bytes";
  public static final String PAGE_BYTES = "ddbpipe.read.page.bytes";
  public static final long DEFAULT_BUFFER_BYTES = 8L * 1024 * 1024;
  /** The connector's consumer waits for this many pages (PSCAN_SEGMENT_BATCH_SIZE). */
  static final int MIN_PAGES = DynamoDBConstants.PSCAN_SEGMENT_BATCH_SIZE;
  private static final Log log = LogFactory.getLog(BoundedDynamoDBInputFormat.class);

  @Override
  public RecordReader<Text, DynamoDBItemWritable> getRecordReader(InputSplit split, JobConf conf,
      Reporter reporter) throws IOException {
    long buffer = Math.max(conf.getLong(BUFFER_BYTES, DEFAULT_BUFFER_BYTES), 64 * 1024);
    long page = Math.max(conf.getLong(PAGE_BYTES, buffer / 64), 4096);
    ItemSize itemSize = new ItemSize(conf.getFloat(DynamoDBConstants.AVG_ITEM_SIZE, 1024f));
    PageBudget budget = new PageBudget(buffer, MIN_PAGES);
    BoundedContext context = new BoundedContext(budget, itemSize);
    context.setConf(conf);
    context.setSplit(split);
    context.setClient(new CappedClient(conf, page, itemSize));
    context.setAverageItemSize(conf.getFloat(DynamoDBConstants.AVG_ITEM_SIZE, 0.0f));
    context.setReporter(reporter);
    log.info("Page buffer bounded at " + buffer + " bytes, pages of about " + page + " bytes");
    return new DrainingReader(new LineRecordReader(context), budget);
  }
}
