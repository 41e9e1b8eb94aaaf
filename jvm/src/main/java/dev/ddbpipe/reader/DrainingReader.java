package dev.ddbpipe.reader;

import java.io.IOException;
import org.apache.hadoop.dynamodb.DynamoDBItemWritable;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapred.RecordReader;

/**
 * The connector's record reader, which on close also opens the budget: a task cancelled mid-scan
 * stops its read workers without interrupting them, and one waiting for room must not wait for
 * a consumer that is gone.
 */
final class DrainingReader implements RecordReader<Text, DynamoDBItemWritable> {
  private final RecordReader<Text, DynamoDBItemWritable> reader;
  private final PageBudget budget;

  DrainingReader(RecordReader<Text, DynamoDBItemWritable> reader, PageBudget budget) {
    this.reader = reader;
    this.budget = budget;
  }

  @Override
  public boolean next(Text key, DynamoDBItemWritable value) throws IOException {
    return reader.next(key, value);
  }

  @Override
  public Text createKey() {
    return reader.createKey();
  }

  @Override
  public DynamoDBItemWritable createValue() {
    return reader.createValue();
  }

  @Override
  public long getPos() throws IOException {
    return reader.getPos();
  }

  @Override
  public float getProgress() throws IOException {
    return reader.getProgress();
  }

  @Override
  public void close() throws IOException {
    budget.drain();
    reader.close();
  }
}
