package dev.ddbpipe.reader;

import java.io.IOException;
import java.util.Map;
import org.apache.hadoop.dynamodb.preader.PageResultMultiplexer;
import org.apache.hadoop.dynamodb.preader.PageResults;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/**
 * What the read workers see as the page multiplexer: each page waits for room in the byte budget,
 * then goes to the connector's own multiplexer (which the record reader consumes) as a
 * {@link BudgetedPage}. Only {@code addPageResults} and {@code setDraining} are called on it.
 */
final class BoundedPageMux extends PageResultMultiplexer<Map<String, AttributeValue>> {
  private final PageResultMultiplexer<Map<String, AttributeValue>> inner;
  private final PageBudget budget;
  private final ItemSize itemSize;

  BoundedPageMux(PageResultMultiplexer<Map<String, AttributeValue>> inner, PageBudget budget,
      ItemSize itemSize) {
    super(1, 1);
    this.inner = inner;
    this.budget = budget;
    this.itemSize = itemSize;
  }

  @Override
  public boolean addPageResults(PageResults<Map<String, AttributeValue>> page) {
    if (page.isFailed()) {
      return inner.addPageResults(page);
    }
    long bytes = itemSize.pageBytes(page.consumedRcu, page.items.size());
    try {
      budget.acquire(bytes);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
    boolean added = inner.addPageResults(new BudgetedPage(page, budget, bytes));
    if (!added) {
      budget.release(bytes);
    }
    return added;
  }

  @Override
  public Map<String, AttributeValue> next() throws IOException {
    return inner.next();
  }

  @Override
  public void setDraining(boolean draining) {
    if (draining) {
      budget.drain();
    }
    inner.setDraining(draining);
  }
}
