package dev.ddbpipe.reader;

import java.util.Map;
import org.apache.hadoop.dynamodb.preader.DynamoDBRecordReaderContext;
import org.apache.hadoop.dynamodb.preader.PageResultMultiplexer;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/**
 * The record reader's context, handing the read workers a {@link BoundedPageMux} around the
 * multiplexer the connector's record reader creates and consumes.
 */
final class BoundedContext extends DynamoDBRecordReaderContext {
  private final PageBudget budget;
  private final ItemSize itemSize;
  private PageResultMultiplexer<Map<String, AttributeValue>> bounded;

  BoundedContext(PageBudget budget, ItemSize itemSize) {
    this.budget = budget;
    this.itemSize = itemSize;
  }

  @Override
  public void setPageResultMultiplexer(PageResultMultiplexer<Map<String, AttributeValue>> mux) {
    super.setPageResultMultiplexer(mux);
    bounded = new BoundedPageMux(mux, budget, itemSize);
  }

  @Override
  public PageResultMultiplexer<Map<String, AttributeValue>> getPageResultMultiplexer() {
    return bounded;
  }
}
